import pytest

from cbqa.core.metrics import exact_match, f1, max_em, max_f1, normalize_answer, score


@pytest.mark.parametrize(
    "raw, norm",
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("an apple, a pear.", "apple pear"),
        ("  Hello,   World!  ", "hello world"),
        ("Theory", "theory"),  # 'the' only as a whole word
        ("Zoë Ångström", "zoë ångström"),  # unicode letters survive, lowercased
        ("U.S.A.", "usa"),
        ("“quoted”", "“quoted”"),  # only ASCII punctuation is removed, as in SQuAD
        ("", ""),
    ],
)
def test_normalize(raw: str, norm: str) -> None:
    assert normalize_answer(raw) == norm


def test_em_and_f1_cases() -> None:
    assert exact_match("the Beatles", "Beatles")
    assert not exact_match("Beatles band", "Beatles")
    assert f1("Beatles band", "The Beatles") == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert f1("", "Beatles") == 0.0
    assert f1("", "") == 0.0  # no common tokens -> 0, exactly as the QA-Overlap script
    assert f1("a", "the") == 0.0  # both normalise to empty


def test_max_over_aliases() -> None:
    golds = ["JFK", "John F. Kennedy", "Kennedy"]
    assert max_em("john f kennedy", golds) == 1.0
    assert max_f1("President Kennedy", golds) == pytest.approx(2 / 3)
    assert max_em("Lincoln", golds) == 0.0


def test_score_percent() -> None:
    s = score(["Paris", "", "the moon"], [["paris"], ["x"], ["Moon", "Luna"]])
    assert s.n == 3
    assert s.em == pytest.approx(200 / 3)
    assert s.to_json() == {"em": s.em, "f1": s.f1, "n": 3}
    with pytest.raises(ValueError):
        score(["a"], [])


def test_agrees_with_reference_definitions() -> None:
    """Re-derive the QA-Overlap script's definitions independently on a few pairs."""
    import re
    import string
    from collections import Counter

    def ref_norm(s: str) -> str:
        s = s.lower()
        s = "".join(ch for ch in s if ch not in set(string.punctuation))
        s = re.sub(r"\b(a|an|the)\b", " ", s)
        return " ".join(s.split())

    def ref_f1(p: str, g: str) -> float:
        pt, gt = ref_norm(p).split(), ref_norm(g).split()
        same = sum((Counter(pt) & Counter(gt)).values())
        if same == 0:
            return 0
        pr, rc = same / len(pt), same / len(gt)
        return 2 * pr * rc / (pr + rc)

    pairs = [
        ("The cat sat", "cat sat on the mat"),
        ("1,000", "1000"),
        ("Mr. Smith's", "mr smiths"),
        ("a b c", "c b a b"),
    ]
    for p, g in pairs:
        assert normalize_answer(p) == ref_norm(p)
        assert f1(p, g) == pytest.approx(ref_f1(p, g))
