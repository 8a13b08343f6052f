from pathlib import Path

from transformers import AutoTokenizer

from cbqa.model.tokenizer import sentinel, sentinel_ids


def test_round_trip_and_sentinels(tiny_qa) -> None:
    tok = AutoTokenizer.from_pretrained(str(tiny_qa["tok"]))
    text = "What colour is item 12?"
    ids = tok(text).input_ids
    assert ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == text
    s0, s1 = sentinel_ids(tok, 2)
    # Sentinels are distinct, real tokens (not <unk>), and survive a round trip inside text.
    assert s0 != s1 and tok.unk_token_id not in (s0, s1)
    assert tok.convert_ids_to_tokens([s0, s1]) == [sentinel(0), sentinel(1)]
    ids = tok(f"Item 3 is {sentinel(0)} .").input_ids
    assert s0 in ids
    assert len(tok) == tok.convert_tokens_to_ids(sentinel(0)) + 1  # T5 layout: <extra_id_0> is the last id
    assert tok.pad_token_id == 0 and tok.eos_token_id == 1


def test_cli_writes_loadable_dir(tiny_qa, tmp_path: Path) -> None:
    from cbqa.commands.tokenizer import main

    assert (
        main(
            [
                "--corpus",
                str(tiny_qa["corpus"]),
                "--qa",
                str(tiny_qa["qa"]),
                "--out",
                str(tmp_path / "t"),
                "--vocab-size",
                "100",
            ]
        )
        == 0
    )
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "t"))
    assert sentinel_ids(tok, 100)
