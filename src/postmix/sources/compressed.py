"""Compressed inputs read to their verified end: gzip members and zstd frames.

A partially downloaded shard must never read as a shorter file. `gzip` already
raises at a missing trailer, but as `EOFError` (which click turns into a bare
`Aborted.`) and without the file's name; `zstandard`'s `stream_reader(...,
read_across_frames=True)` returns EOF at a premature end. Here every frame must
end, every error names the file and where the data broke, and an empty
compressed file (which no compressor writes) is an error too.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator

from postmix.sources.shards import SourceError

BLOCK = 256 << 10
# zstd input fed per call: bounds the output of one call (a zstd block is at most 128 KiB
# out of a few bytes in) while keeping per-call overhead negligible.
ZSTD_FEED = 16 << 10

_NAMES = {"gz": "gzip", "zst": "zstd"}


def open_compressed(path: str, compression: str) -> io.BufferedReader:
    """A binary reader of the decompressed bytes that raises `SourceError` on damage."""
    if os.path.getsize(path) == 0:
        raise SourceError(
            f"{path}: empty file, not {_NAMES[compression]} data "
            "(an interrupted download or copy?): fetch it again"
        )
    chunks = _gzip_chunks(path) if compression == "gz" else _zstd_chunks(path)
    return io.BufferedReader(_ChunkReader(chunks), BLOCK)


def _gzip_chunks(path: str) -> Iterator[bytes]:
    done = 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(BLOCK):
                done += len(chunk)
                yield chunk
    except (EOFError, OSError, zlib.error) as exc:
        raise SourceError(
            f"{path}: truncated or corrupt gzip data after {done} decompressed bytes ({exc}): "
            "the file is damaged or incomplete; fetch it again"
        ) from exc


def _zstd_chunks(path: str) -> Iterator[bytes]:
    """Decompressed pieces of every frame; a frame left open at the end is an error."""
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    frame = None  # decompressor of the frame in progress
    consumed = done = 0  # compressed bytes fed, decompressed bytes produced
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            for at in range(0, len(block), ZSTD_FEED):
                data = block[at : at + ZSTD_FEED]
                while data:
                    frame = frame or dctx.decompressobj()
                    try:
                        out = frame.decompress(data)
                    except zstandard.ZstdError as exc:
                        raise SourceError(
                            f"{path}: corrupt zstd data near byte {consumed} ({exc}): "
                            "the file is damaged; fetch it again"
                        ) from exc
                    consumed += len(data)
                    if frame.eof:
                        data = frame.unused_data
                        consumed -= len(data)
                        frame = None
                    else:
                        data = b""
                    if out:
                        done += len(out)
                        yield out
    if frame is not None:
        raise SourceError(
            f"{path}: truncated zstd data: the file ends inside a frame at byte {consumed} "
            f"(after {done} decompressed bytes): the file is incomplete; fetch it again"
        )


class _ChunkReader(io.RawIOBase):
    """A raw readable file over an iterator of byte chunks (closing it closes the iterator)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._view:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._view = memoryview(chunk)
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        self._view = self._view[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        super().close()
