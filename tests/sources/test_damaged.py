"""Damaged inputs are errors naming the file, never a shorter read (issue 10, items 1, 9, 13).

Each case is built here from real rows (GSM8K train when the shared corpus is present,
small generated rows otherwise), then cut or corrupted the way a partial download is.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from postmix import sources
from postmix.schema import InvalidRow
from tests.conftest import SHARED_DATA

GSM8K = SHARED_DATA / "openai__grade-school-math" / "train.jsonl"


def jsonl_rows(n: int) -> bytes:
    """n JSONL lines: GSM8K train's first lines when present, else generated rows."""
    if GSM8K.is_file():
        lines = GSM8K.read_bytes().split(b"\n")[:n]
        return b"\n".join(lines) + b"\n"
    return b"".join(
        orjson.dumps({"question": f"q{i}", "answer": f"a{i}"}) + b"\n" for i in range(n)
    )


def read_all(path: Path) -> list[tuple[int, Any]]:
    return [pair for shard in sources.plan(str(path)) for pair in sources.read(shard)]


def two_frames(data: bytes) -> tuple[bytes, bytes]:
    half = data.index(b"\n", len(data) // 2) + 1
    c = zstandard.ZstdCompressor(write_checksum=True)
    return c.compress(data[:half]), c.compress(data[half:])


def test_intact_multi_frame_zstd_reads_every_row(tmp_path: Path) -> None:
    data = jsonl_rows(2000)
    first, second = two_frames(data)
    path = tmp_path / "rows.jsonl.zst"
    path.write_bytes(first + second)
    assert len(read_all(path)) == 2000


@pytest.mark.parametrize("cut", ["inside_second_frame", "frame_header", "last_byte"])
def test_truncated_zstd_is_an_error_naming_the_file(tmp_path: Path, cut: str) -> None:
    first, second = two_frames(jsonl_rows(2000))
    keep = {
        "inside_second_frame": len(first) + len(second) // 2,
        "frame_header": len(first) + 3,
        "last_byte": len(first) + len(second) - 1,
    }[cut]
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes((first + second)[:keep])
    with pytest.raises(sources.SourceError, match=r"cut\.jsonl\.zst: truncated zstd"):
        read_all(path)


def test_corrupt_zstd_is_an_error_naming_the_file(tmp_path: Path) -> None:
    first, second = two_frames(jsonl_rows(2000))
    blob = bytearray(first + second)
    blob[len(first) + 40 : len(first) + 60] = b"\xff" * 20
    path = tmp_path / "bad.jsonl.zst"
    path.write_bytes(bytes(blob))
    with pytest.raises(sources.SourceError, match=r"bad\.jsonl\.zst: corrupt zstd"):
        read_all(path)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_truncated_gzip_is_a_source_error_not_eof(tmp_path: Path, fmt: str) -> None:
    data = {
        "jsonl": jsonl_rows(500),
        "json": orjson.dumps([{"a": i} for i in range(500)]),
        "csv": b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(5000)),
    }[fmt]
    blob = gzip.compress(data)
    path = tmp_path / f"cut.{fmt}.gz"
    path.write_bytes(blob[: len(blob) - 6])  # inside the trailer: CRC and size missing
    with pytest.raises(sources.SourceError, match=rf"cut\.{fmt}\.gz: truncated or corrupt gzip"):
        read_all(path)


def test_gzip_cut_mid_member_and_bad_crc(tmp_path: Path) -> None:
    blob = gzip.compress(jsonl_rows(500))
    mid = tmp_path / "mid.jsonl.gz"
    mid.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(sources.SourceError, match=r"mid\.jsonl\.gz"):
        read_all(mid)
    crc = bytearray(blob)
    crc[-8] ^= 0xFF
    bad = tmp_path / "crc.jsonl.gz"
    bad.write_bytes(bytes(crc))
    with pytest.raises(sources.SourceError, match=r"crc\.jsonl\.gz: truncated or corrupt gzip"):
        read_all(bad)


@pytest.mark.parametrize("name", ["empty.jsonl.gz", "empty.jsonl.zst"])
def test_zero_byte_compressed_file_is_an_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(sources.SourceError, match=rf"{name}: empty file"):
        read_all(path)


def test_real_humaneval_gz_truncated(shared_data: Path, tmp_path: Path) -> None:
    blob = (shared_data / "openai__human-eval" / "HumanEval.jsonl.gz").read_bytes()
    path = tmp_path / "HumanEval.jsonl.gz"
    path.write_bytes(blob[: len(blob) * 2 // 3])
    with pytest.raises(sources.SourceError, match=r"HumanEval\.jsonl\.gz: truncated"):
        read_all(path)


def test_corrupt_parquet_names_the_file(tmp_path: Path) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{"a": i} for i in range(100)]), sink)
    blob = sink.getvalue()
    path = tmp_path / "bad.parquet"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(sources.SourceError, match=r"bad\.parquet: not a readable Parquet file"):
        read_all(path)
    gz = tmp_path / "bad.parquet.gz"
    gz.write_bytes(gzip.compress(blob[:-20]))
    with pytest.raises(sources.SourceError, match=r"bad\.parquet\.gz: not a readable Parquet"):
        read_all(gz)


def test_bad_utf8_in_csv_is_an_invalid_row_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,ok\n2,caf\xe9\n3,fine\n")
    got = read_all(path)
    assert [row for row, _ in got] == [0, 1, 2]
    assert got[0][1] == {"a": "1", "b": "ok"} and got[2][1] == {"a": "3", "b": "fine"}
    bad = got[1][1]
    assert isinstance(bad, InvalidRow) and "invalid UTF-8" in str(bad)
    assert bad.raw == "2,caf\ufffd"  # type: ignore[attr-defined]


def test_json_object_holding_one_list_of_rows_reads_the_rows(tmp_path: Path) -> None:
    rows = [{"instruction": f"i{n}", "output": f"o{n}"} for n in range(3)]
    path = tmp_path / "wrapped.json"
    path.write_bytes(orjson.dumps({"rows": rows}))
    assert read_all(path) == list(enumerate(rows))


def test_json_object_holding_a_conversation_stays_one_record(tmp_path: Path) -> None:
    record = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    }
    path = tmp_path / "one.json"
    path.write_bytes(orjson.dumps(record))
    assert read_all(path) == [(0, record)]
