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


# --- the two normalisers: cases derived by hand from their definitions ------------------------------------------------
# SQuAD: lowercase, DELETE ASCII punctuation, remove a/an/the, fold whitespace.
# TriviaQA: lowercase, REPLACE ASCII punctuation and ‘ ’ ´ ` _ by a space, remove a/an/the, fold whitespace, strip.
# (category, raw, squad, triviaqa)
NORMALISER_CASES = [
    ("hyphen", "well-known", "wellknown", "well known"),
    ("hyphen", "Mary-Kate and Ashley", "marykate and ashley", "mary kate and ashley"),
    ("hyphen", "the-end", "theend", "end"),  # squad: one word, no article; triviaqa: "the end" loses "the"
    ("hyphen", "x - y", "x y", "x y"),
    ("apostrophe", "O'Brien", "obrien", "o brien"),
    ("apostrophe", "Ender's Game", "enders game", "ender s game"),
    ("apostrophe", "Rock 'n' Roll", "rock n roll", "rock n roll"),
    ("apostrophe", "The Beatles'", "beatles", "beatles"),
    ("underscore", "New_York", "newyork", "new york"),
    ("underscore", "a_b", "ab", "b"),  # triviaqa: "a b", and "a" is an article
    ("underscore", "__init__", "init", "init"),
    ("curly quote", "‘Hero’", "‘hero’", "hero"),  # squad deletes ASCII punctuation only
    ("curly quote", "It´s", "it´s", "it s"),
    ("curly quote", "“Hero”", "“hero”", "“hero”"),  # double curly quotes are in neither set
    ("curly quote", "`quoted`", "quoted", "quoted"),  # the backtick is ASCII punctuation
    ("article inside a word", "Theatre", "theatre", "theatre"),
    ("article inside a word", "Anathema", "anathema", "anathema"),
    ("article inside a word", "The Thea", "thea", "thea"),
    ("article inside a word", "an-other", "another", "other"),
    ("empty", "", "", ""),
    ("empty", "The", "", ""),
    ("empty", "...", "", ""),
    ("empty", "a.", "", ""),
    ("empty", "‘’", "‘’", ""),
]


@pytest.mark.parametrize("category, raw, squad, triviaqa", NORMALISER_CASES)
def test_squad_and_triviaqa_normalisers(category: str, raw: str, squad: str, triviaqa: str) -> None:
    from cbqa.core.metrics import normalize_squad, normalize_triviaqa

    assert normalize_squad(raw) == squad
    assert normalize_triviaqa(raw) == triviaqa


def test_normaliser_cases_cover_each_category_and_the_disagreements() -> None:
    from collections import Counter

    per_category = Counter(c for c, *_ in NORMALISER_CASES)
    assert all(per_category[c] >= 3 for c in ("hyphen", "apostrophe", "underscore", "curly quote", "empty"))
    assert per_category["article inside a word"] >= 3
    assert sum(s != t for _, _, s, t in NORMALISER_CASES) >= 8


def test_triviaqa_normaliser_is_t5s() -> None:
    """T5's qa_utils.normalize_trivia_qa, re-derived independently, on every case."""
    import re
    import string

    def ref(text: str) -> str:
        punc = set(string.punctuation + "‘’´`_")
        text = "".join(" " if ch in punc else ch for ch in text.lower())
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split()).strip()

    from cbqa.core.metrics import normalize_triviaqa

    for _, raw, _, _ in NORMALISER_CASES:
        assert normalize_triviaqa(raw) == ref(raw)


def test_scores_follow_the_chosen_normaliser() -> None:
    preds, golds = ["Mary Kate and Ashley", "‘Hero’"], [["Mary-Kate and Ashley"], ["Hero"]]
    assert score(preds, golds, "squad").em == 0.0
    assert score(preds, golds, "triviaqa").em == 100.0
    assert exact_match("ender s game", "Ender's Game", "triviaqa") and not exact_match("ender s game", "Ender's Game")
    assert f1("well known", "well-known", "triviaqa") == 1.0 and f1("well known", "well-known") == 0.0
    with pytest.raises(ValueError, match="unknown normaliser 'nq'"):
        score(["a"], [["a"]], "nq")
