"""Local file readers: every format × compression, real files, bad rows, sharding, globs."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from postmix import sources
from postmix.schema import InvalidRow
from postmix.sources import local
from tests.conftest import shared_file

ROWS = [
    {"instruction": "Say hi", "output": "hi", "n": "1"},
    {"instruction": "line\u2028separator and next\u0085line", "output": "ok\r", "n": "2"},
    {"instruction": "ünïcode 中文 🙂", "output": 'quote " and, comma', "n": "3"},
]


def compress(data: bytes, compression: str | None) -> bytes:
    if compression == "gz":
        return gzip.compress(data)
    if compression == "zst":
        return zstandard.ZstdCompressor().compress(data)
    return data


def encode(fmt: str, rows: list[dict[str, Any]]) -> bytes:
    if fmt == "jsonl":
        return b"".join(orjson.dumps(r) + b"\n" for r in rows)
    if fmt == "json":
        return orjson.dumps(rows)
    if fmt == "csv":
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().encode()
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def write(path: Path, data: bytes, compression: str | None = None) -> str:
    path.write_bytes(compress(data, compression))
    return str(path)


def read_all(source: str, **kwargs: Any) -> list[tuple[int, Any]]:
    return [pair for shard in sources.plan(source, **kwargs) for pair in sources.read(shard)]


@pytest.mark.parametrize("compression", [None, "gz", "zst"])
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_every_format_and_compression(tmp_path: Path, fmt: str, compression: str | None) -> None:
    suffix = f".{fmt}" + (f".{compression}" if compression else "")
    path = write(tmp_path / f"rows{suffix}", encode(fmt, ROWS), compression)
    shards = sources.plan(path)
    assert [(s.fmt, s.compression) for s in shards] == [(fmt, compression)]
    assert read_all(path) == list(enumerate(ROWS))
    assert sources.columns(path) == {"instruction", "output", "n"}


def test_ndjson_and_zstd_long_suffix(tmp_path: Path) -> None:
    path = write(tmp_path / "rows.ndjson.zstd", encode("jsonl", ROWS), "zst")
    assert read_all(path) == list(enumerate(ROWS))


def test_line_separators_inside_strings_do_not_split_rows(tmp_path: Path) -> None:
    data = encode("jsonl", ROWS)
    assert "\u2028".encode() in data and "\u0085".encode() in data  # orjson keeps them raw
    assert len(data.decode().splitlines()) > len(ROWS)  # the trap str.splitlines falls into
    assert read_all(write(tmp_path / "sep.jsonl", data)) == list(enumerate(ROWS))


def test_bad_and_blank_lines_keep_line_indices(tmp_path: Path) -> None:
    lines = [b'{"a": 1}', b"", b"   \t", b'{"a": 2', b'{"a": 3}\r', b"not json", b'{"a": 4}']
    path = write(tmp_path / "mixed.jsonl", b"\n".join(lines))  # no final newline
    got = read_all(path)
    assert [row for row, _ in got] == [0, 3, 4, 5, 6]
    assert [v for _, v in got if not isinstance(v, InvalidRow)] == [{"a": 1}, {"a": 3}, {"a": 4}]
    bad = {row: v for row, v in got if isinstance(v, InvalidRow)}
    assert set(bad) == {3, 5}
    assert bad[3].raw == '{"a": 2' and bad[5].raw == "not json"
    assert "invalid JSON" in str(bad[3])


def test_invalid_row_raw_is_cut_and_survives_pickling(tmp_path: Path) -> None:
    long_bad = b'{"text": "' + "é".encode() * 5000  # unterminated: invalid JSON
    path = write(tmp_path / "long.jsonl", long_bad + b"\n" + b"\xff\xfe\n")
    (row0, bad0), (row1, bad1) = read_all(path)
    assert (row0, row1) == (0, 1)
    assert len(bad0.raw) == 2000 and bad0.raw.startswith('{"text": "éé')
    assert bad1.raw == "\ufffd\ufffd"  # invalid UTF-8 is quarantined, shown replaced
    copy = pickle.loads(pickle.dumps(bad0))
    assert isinstance(copy, InvalidRow) and copy.raw == bad0.raw and str(copy) == str(bad0)


def test_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    jsonl = write(tmp_path / "bom.jsonl", b"\xef\xbb\xbf" + encode("jsonl", ROWS))
    assert read_all(jsonl) == list(enumerate(ROWS))
    as_json = write(tmp_path / "bom.json", b"\xef\xbb\xbf" + encode("json", ROWS))
    assert read_all(as_json) == list(enumerate(ROWS))
    as_csv = write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + encode("csv", ROWS))
    assert read_all(as_csv) == list(enumerate(ROWS))


def test_json_object_of_split_arrays_and_bare_object(tmp_path: Path) -> None:
    splits = {"train_sft": ROWS[:2], "test": ROWS[2:]}
    assert read_all(write(tmp_path / "splits.json", orjson.dumps(splits))) == list(enumerate(ROWS))
    record = {"conversations": [{"from": "human", "value": "hi"}], "id": 7}
    assert read_all(write(tmp_path / "one.json", orjson.dumps(record))) == [(0, record)]


def test_invalid_json_document_is_a_source_error(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.json", b'[{"a": 1},')
    with pytest.raises(sources.SourceError, match=r"broken\.json"):
        read_all(path)


def test_csv_values_are_strings_and_bad_records_are_invalid(tmp_path: Path) -> None:
    big = "x" * 300_000  # over the csv module's default 128 KiB field limit
    text = f'a,b\n1,"two\nlines"\n\n3\n4,{big}\n5,6,7\n'
    got = read_all(write(tmp_path / "t.csv", text.encode()))
    assert got[0] == (0, {"a": "1", "b": "two\nlines"})
    assert got[2] == (3, {"a": "4", "b": big})
    assert [row for row, _ in got] == [0, 2, 3, 4]  # the blank record (1) yields nothing
    for row, want_raw in ((2, "3"), (4, "5,6,7")):
        value = dict(got)[row]
        assert isinstance(value, InvalidRow) and value.raw == want_raw


def test_empty_files(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.csv"):
        path = write(tmp_path / name, b"")
        assert read_all(path) == []
        assert sources.columns(path) is None


def test_columns_skips_invalid_rows_and_non_objects(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", b'oops\n{"x": 1, "y": 2}\n')
    assert sources.columns(path) == {"x", "y"}
    assert sources.columns(write(tmp_path / "s.jsonl", b'"just a string"\n')) is None


# --- sharding ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~50k lines with blank lines, bad lines, a very long line and no final newline."""
    lines = []
    for i in range(50_000):
        if i % 997 == 0:
            lines.append(b"")
        elif i % 4999 == 0:
            lines.append(b'{"broken": ')
        elif i == 12_345:
            lines.append(orjson.dumps({"i": i, "long": "z" * 300_000}))
        else:
            lines.append(orjson.dumps({"i": i, "text": f"row {i} \u2028 " + "w" * (i % 200)}))
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    path.write_bytes(b"\n".join(lines))
    return path


def _expected(path: Path) -> list[tuple[int, Any]]:
    """Reference reading: the file split on b"\\n" with the stdlib json module."""
    import json

    out = []
    for i, line in enumerate(path.read_bytes().split(b"\n")):
        if line.strip():
            try:
                out.append((i, json.loads(line)))
            except ValueError:
                out.append((i, "invalid"))
    return out


def _comparable(pairs: list[tuple[int, Any]], detail: bool = True) -> list[tuple[int, Any]]:
    """Rows with InvalidRow values as comparable tuples (exceptions never compare equal)."""

    def plain(v: Any) -> Any:
        if not isinstance(v, InvalidRow):
            return v
        return ("invalid", str(v), v.raw) if detail else "invalid"

    return [(row, plain(v)) for row, v in pairs]


def test_jsonl_byte_shards_concatenate_to_the_whole_file(big_jsonl: Path) -> None:
    shards = sources.plan(str(big_jsonl), shard_bytes=64 << 10)
    assert len(shards) > 50
    assert shards == sources.plan(str(big_jsonl), shard_bytes=64 << 10)  # deterministic
    data = big_jsonl.read_bytes()
    assert shards[0].start == 0 and shards[-1].end is None
    for prev, nxt in itertools.pairwise(shards):
        assert prev.end == nxt.start and data[nxt.start - 1 : nxt.start] == b"\n"
        assert nxt.first_row == data.count(b"\n", 0, nxt.start)
    pieces = [list(sources.read(s)) for s in shards]
    for shard, piece in zip(shards, pieces):
        assert all(row >= shard.first_row for row, _ in piece)
    whole = read_all(str(big_jsonl), whole=True)
    assert _comparable(list(itertools.chain.from_iterable(pieces))) == _comparable(whole)
    assert _comparable(whole, detail=False) == _expected(big_jsonl)
    assert len(whole) == 50_000 - 51  # the 51 blank lines yield nothing


@pytest.mark.parametrize("block", [7, 4096])
def test_jsonl_reading_does_not_depend_on_block_size(
    big_jsonl: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _comparable(read_all(str(big_jsonl), shard_bytes=1 << 20))
    monkeypatch.setattr(local, "BLOCK", block)
    assert _comparable(read_all(str(big_jsonl), shard_bytes=1 << 20)) == reference


def test_small_and_compressed_jsonl_are_one_shard(tmp_path: Path, big_jsonl: Path) -> None:
    assert len(sources.plan(str(big_jsonl), whole=True)) == 1
    assert len(sources.plan(str(big_jsonl))) == 1  # under the default 64 MiB
    gz = write(tmp_path / "big.jsonl.gz", big_jsonl.read_bytes(), "gz")
    assert len(sources.plan(gz, shard_bytes=1024)) == 1
    assert _comparable(read_all(gz)) == _comparable(read_all(str(big_jsonl)))


def test_parquet_shards_are_runs_of_row_groups(tmp_path: Path) -> None:
    rows = [{"i": i, "text": f"t{i}", "tags": [i, i + 1]} for i in range(1000)]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=100)
    shards = sources.plan(str(path), shard_rows=250)
    assert [(s.start, s.end, s.first_row) for s in shards] == [
        (0, 3, 0),
        (3, 6, 300),
        (6, 9, 600),
        (9, 10, 900),
    ]
    pieces = [list(sources.read(s)) for s in shards]
    assert [p[0][0] for p in pieces] == [0, 300, 600, 900]
    assert list(itertools.chain.from_iterable(pieces)) == list(enumerate(rows))
    assert len(sources.plan(str(path), shard_rows=250, whole=True)) == 1


# --- globs and paths -----------------------------------------------------------------------


def test_glob_matches_in_sorted_order(tmp_path: Path) -> None:
    for name, rows in (("b.jsonl", ROWS[1:2]), ("a.json", ROWS[:1]), ("c.csv.gz", ROWS[2:])):
        fmt = name.split(".")[1]
        write(tmp_path / name, encode(fmt, rows), "gz" if name.endswith(".gz") else None)
    shards = sources.plan(str(tmp_path / "*"))
    assert [Path(s.path).name for s in shards] == ["a.json", "b.jsonl", "c.csv.gz"]
    assert [v for s in shards for _, v in sources.read(s)] == ROWS
    assert [s.label for s in shards] == [s.path for s in shards]


def test_missing_and_unsupported_paths(tmp_path: Path) -> None:
    with pytest.raises(sources.SourceError, match="no files match"):
        sources.plan(str(tmp_path / "*.jsonl"))
    with pytest.raises(sources.SourceError, match="no such file"):
        sources.plan(str(tmp_path / "missing.jsonl"))
    with pytest.raises(sources.SourceError, match="no such file"):
        sources.plan("data/nested/missing")
    with pytest.raises(sources.SourceError, match="unsupported file type"):
        sources.plan(write(tmp_path / "notes.txt", b"hello"))


def test_shards_pickle_hash_and_label(tmp_path: Path) -> None:
    shard = sources.plan(write(tmp_path / "x.jsonl", encode("jsonl", ROWS)))[0]
    assert pickle.loads(pickle.dumps(shard)) == shard
    assert hash(shard) == hash(pickle.loads(pickle.dumps(shard)))
    assert shard.label == str(tmp_path / "x.jsonl")


def test_reading_local_files_does_not_import_datasets(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl", encode("jsonl", ROWS))
    code = (
        "import sys; from postmix import sources; "
        f"n = sum(1 for s in sources.plan({path!r}) for _ in sources.read(s)); "
        "assert n == 3; assert 'datasets' not in sys.modules, 'datasets imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- big JSON documents --------------------------------------------------------------------


@pytest.mark.parametrize("compression", [None, "gz"])
def test_json_over_the_limit_streams_with_ijson(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str | None
) -> None:
    pytest.importorskip("ijson")
    rows = [{"i": i, "x": 0.5 + i, "s": "é" * (i % 7)} for i in range(500)]
    suffix = ".json.gz" if compression else ".json"
    path = write(tmp_path / f"big{suffix}", encode("json", rows), compression)
    monkeypatch.setattr(local, "JSON_WHOLE_LIMIT", 1000)
    assert read_all(path) == list(enumerate(rows))
    obj = write(tmp_path / f"obj{suffix}", orjson.dumps({"train": rows}), compression)
    with pytest.raises(sources.SourceError, match="not a top-level array"):
        read_all(obj)


def test_json_over_the_limit_without_ijson_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "big.json", encode("json", ROWS * 50))
    monkeypatch.setattr(local, "JSON_WHOLE_LIMIT", 1000)
    monkeypatch.setitem(sys.modules, "ijson", None)  # makes `import ijson` fail
    with pytest.raises(sources.SourceError, match=r"install ijson.*JSONL"):
        read_all(path)


# --- real public files ---------------------------------------------------------------------

REAL_COUNTS = {
    "openai__grade-school-math/train.jsonl": 7473,
    "openai__grade-school-math/test.jsonl": 1319,
    "openai__human-eval/HumanEval.jsonl.gz": 164,
    "Open-Paws__Datasets/oasst2_filtered.jsonl": 551,
    "tatsu-lab__stanford_alpaca/seed_tasks.jsonl": 175,
    "lmarena__arena-hard-auto/arena-hard-v0.1/question.jsonl": 500,
    "yogarajjsoshua__FlaskApplication/databricks-dolly-15k.head19.jsonl": 19,
    "yizhongw__self-instruct/glue_mrpc_generate_paraphrase.jsonl": 142,
    "gururise__AlpacaDataCleaned/gsm_8k_train.json": 7473,
    "hiyouga__LLaMA-Factory/alpaca_en_demo.json": 999,
    "hiyouga__LLaMA-Factory/dpo_en_demo.json": 300,
    "hiyouga__LLaMA-Factory/kto_en_demo.json": 300,
    "sahil280114__codealpaca/code_alpaca_2k.json": 2017,
    "tatsu-lab__alpaca_eval/outputs.json": 805,
    "thunlp__UltraChat/ultra_eval.json": 385,
    "axolotl-ai-cloud__axolotl/conversation.json": 1,
}


@pytest.mark.parametrize("rel", sorted(REAL_COUNTS))
def test_real_files_row_counts(shared_data: Path, rel: str) -> None:
    path = str(shared_file(shared_data, rel))
    got = read_all(path)
    assert len(got) == REAL_COUNTS[rel]
    assert [row for row, _ in got] == list(range(len(got)))
    assert all(isinstance(v, dict) for _, v in got)


def test_real_humaneval_gz(shared_data: Path) -> None:
    path = str(shared_file(shared_data, "openai__human-eval/HumanEval.jsonl.gz"))
    rows = [v for _, v in read_all(path)]
    assert rows[0]["task_id"] == "HumanEval/0" and rows[-1]["task_id"] == "HumanEval/163"
    assert sources.columns(path) == {
        "task_id",
        "prompt",
        "canonical_solution",
        "test",
        "entry_point",
    }


def test_real_bare_object_json(shared_data: Path) -> None:
    path = str(shared_file(shared_data, "axolotl-ai-cloud__axolotl/conversation.json"))
    [(row, value)] = read_all(path)
    assert row == 0 and len(value["conversations"]) == 12
    assert sources.columns(path) == {"conversations"}


def test_real_gsm8k_with_raw_line_separators(shared_data: Path, tmp_path: Path) -> None:
    """GSM8K train escapes U+2028; orjson writes it raw, which must not split the line."""
    original = read_all(str(shared_file(shared_data, "openai__grade-school-math/train.jsonl")))
    rewritten = encode("jsonl", [v for _, v in original])
    assert "\u2028".encode() in rewritten
    path = write(tmp_path / "gsm8k.jsonl", rewritten)
    assert read_all(path, shard_bytes=256 << 10) == original


def test_real_glob_of_json_files(shared_data: Path) -> None:
    pattern = str(shared_data / "teknium1__GPTeacher" / "toolformer-*.json")
    shards = sources.plan(pattern)
    names = [Path(s.path).name for s in shards]
    assert names == sorted(names) and len(names) == 5
    assert sum(1 for s in shards for _ in sources.read(s)) == 7673 + 5959 + 4709 + 3487 + 2396
