"""Real corpus formats (JSONL, DPR's passage TSV, Parquet, a `datasets` directory) read as the same documents, and
shards planned by `scan_corpus` read back from where they start."""

from __future__ import annotations

import pytest

from cbqa.core.errors import DataError
from cbqa.core.formats import Document, read_corpus, write_corpus
from cbqa.core.formats.corpus import iter_corpus, read_corpus_slice, scan_corpus

DOCS = [Document(f"{i}", f'Passage {i} says "hello" and ""quotes"" {i * "x"}.', f"Title {i}") for i in range(23)]


def write_all(tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_corpus(tmp_path / "c.jsonl", DOCS)
    tsv = "id\ttext\ttitle\n" + "".join(f'{d.id}\t"{d.text.replace(chr(34), chr(34) * 2)}"\t{d.title}\n' for d in DOCS)
    (tmp_path / "psgs_w100.tsv").write_text(tsv, encoding="utf-8")
    table = pa.Table.from_pylist([{"id": d.id, "text": d.text, "title": d.title} for d in DOCS])
    pq.write_table(table, tmp_path / "c.parquet", row_group_size=5)
    datasets.Dataset.from_dict(
        {"id": [d.id for d in DOCS], "text": [d.text for d in DOCS], "title": [d.title for d in DOCS]}
    ).save_to_disk(str(tmp_path / "hf"))
    return [tmp_path / "c.jsonl", tmp_path / "psgs_w100.tsv", tmp_path / "c.parquet", tmp_path / "hf"]


def test_every_format_reads_the_same_documents_and_slices(tmp_path) -> None:
    for path in write_all(tmp_path):
        assert read_corpus(path) == DOCS, path
        scan = scan_corpus(path, shard_size=7)
        assert scan.docs == 23 and [s.count for s in scan.shards] == [7, 7, 7, 2]
        assert [d for s in scan.shards for d in read_corpus_slice(path, s)] == DOCS, path


def test_bad_inputs_name_the_file_and_line(tmp_path) -> None:
    (tmp_path / "bad.tsv").write_text("id\ttext\n1\tx\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:1: expected DPR's passage header"):
        list(iter_corpus(tmp_path / "bad.tsv"))
    (tmp_path / "short.tsv").write_text("id\ttext\ttitle\n1\tonly text\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"short.tsv:2: expected 3 tab-separated fields"):
        list(iter_corpus(tmp_path / "short.tsv"))
    (tmp_path / "dup.jsonl").write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"dup.jsonl:2: duplicate id 'a'"):
        scan_corpus(tmp_path / "dup.jsonl", 10)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "nocol.parquet")
    with pytest.raises(DataError, match=r"nocol.parquet: a Parquet corpus needs a 'text' column"):
        list(iter_corpus(tmp_path / "nocol.parquet"))
    (tmp_path / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"id": "a", "text": "x"}\n')
    assert read_corpus(tmp_path / "bom.jsonl") == [Document("a", "x")]
