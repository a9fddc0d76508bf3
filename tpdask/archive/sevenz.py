"""A .7z writer that compresses on every core: the members, in order, are cut into blocks
of about equal size, each block is one 7z folder (one LZMA2 stream) compressed by its own
thread (liblzma lets go of the GIL while it compresses), and the folders are written one
after the other into one standard .7z archive.

Why not py7zr: it compresses on one thread, one folder per open (a new folder needs a new
open in append mode, which compresses on that one thread again), and the archiver is the
first step of the nightly chain (a scale-1 day took ~100 CPU-s of one thread,
docs/benchmarks.md). 7-Zip itself splits its LZMA2 stream into blocks of 4 × the
dictionary compressed on separate threads; here each block is its own folder, so any 7z
reader decompresses it, and a member can be read by decompressing its folder alone. The
price is the matches a block cannot find in the block before it: about one peak sample's
repeats per cut (0.5 MB, 1.2 % of the scale-1 archive at 2 blocks).

The archive is written in 7-Zip's own layout (7zFormat.txt of the 7-Zip sources):
signature header, the folders' packed streams, then a plain (not compressed) header
with the folders, every member's size and CRC32, names, modification times and
attributes. A member of 0 bytes is a 0-byte stream of its block's folder, as py7zr writes
it (py7zr misreads 7-Zip's "empty streams" placed between the members of a folder).
Reading it back is the caller's job: the archiver verifies every archive it writes with
py7zr before it trusts it (:mod:`tpdask.archive.manifest`).
"""

from __future__ import annotations

import hashlib
import lzma
import os
import queue
import stat
import struct
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

SIGNATURE = b"7z\xbc\xaf\x27\x1c" + b"\x00\x04"   # magic, format version 0.4
LZMA2_ID = 0x21
FILETIME_EPOCH = 11_644_473_600                    # seconds from 1601-01-01 to 1970-01-01
#: Windows "archive" bit, p7zip's "unix mode in the high 16 bits" bit, a regular 0644 file.
ATTRIBUTES = 0x20 | 0x8000 | ((stat.S_IFREG | 0o644) << 16)
#: A block smaller than this is not worth a thread (and each cut costs ratio).
MIN_BLOCK_BYTES = 32 << 20

# Property ids of the 7z header.
K_END, K_HEADER, K_MAIN_STREAMS, K_FILES_INFO = 0x00, 0x01, 0x04, 0x05
K_PACK_INFO, K_UNPACK_INFO, K_SUBSTREAMS, K_SIZE, K_CRC = 0x06, 0x07, 0x08, 0x09, 0x0A
K_FOLDER, K_CODERS_UNPACK_SIZE, K_NUM_UNPACK_STREAM = 0x0B, 0x0C, 0x0D
K_NAME, K_MTIME, K_ATTRIBUTES = 0x11, 0x14, 0x15


@dataclass(frozen=True)
class Written:
    """One member as archived: its path in the archive, modification time, and the size,
    sha256 and CRC32 of its bytes."""

    name: str
    mtime: float
    size: int
    sha256: str
    crc32: int


def default_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def block_count(total_bytes: int, threads: int, min_block: int = MIN_BLOCK_BYTES) -> int:
    """How many blocks: one per thread, but none smaller than `min_block` (one at least)."""
    return max(1, min(threads, total_bytes // max(1, min_block)))


@dataclass
class _Block:
    inbox: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    members: list[tuple[str, float]] = field(default_factory=list)    # name, mtime
    digests: list[tuple[int, str, int]] = field(default_factory=list)  # size, sha256, crc32
    packed: list[bytes] = field(default_factory=list)
    unpacked: int = 0


class ParallelWriter:
    """Write members into `fp` as a .7z of LZMA2 folders, one per block, compressed at once.

    Members are given in archive order with :meth:`add`: their bytes, or the path of a
    file holding them (read by the block's thread). `total_bytes`, the expected size of
    all members, places the cuts: a new block starts at the first member past each equal
    share. A block's thread compresses as soon as its first member is given. :meth:`close`
    waits for every block, writes the archive and returns what was written, member by
    member. As a context manager, an exception stops the threads and writes nothing more.
    """

    def __init__(self, fp: BinaryIO, filters: list[dict], total_bytes: int,
                 threads: int | None = None, min_block: int = MIN_BLOCK_BYTES) -> None:
        if len(filters) != 1 or filters[0].get("id") != lzma.FILTER_LZMA2:
            raise ValueError("ParallelWriter writes LZMA2 folders: give one LZMA2 filter")
        self.fp, self.filters, self.total_bytes = fp, filters, total_bytes
        count = block_count(total_bytes, threads or default_threads(), min_block)
        self._blocks = [_Block() for _ in range(count)]
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(count, thread_name_prefix="7z-block")
        self._futures: list[Future[_Block]] = [self._pool.submit(self._compress, b)
                                               for b in self._blocks]
        self._current, self._seen = 0, 0

    @property
    def blocks(self) -> int:
        """The blocks planned (each that gets bytes becomes a 7z folder)."""
        return len(self._blocks)

    def add(self, name: str, data: bytes | Path, mtime: float, size: int | None = None) -> None:
        """The next member: its bytes, or the path of a file of about `size` bytes."""
        size = len(data) if isinstance(data, bytes) else int(size or 0)
        block = self._blocks[self._current]
        share = self.total_bytes * (self._current + 1) / len(self._blocks)
        if block.members and self._seen >= share and self._current + 1 < len(self._blocks):
            block.inbox.put(None)                        # that block has all its members
            self._current += 1
            block = self._blocks[self._current]
        block.members.append((name, mtime))
        block.inbox.put(data)
        self._seen += size

    def _compress(self, block: _Block) -> _Block:
        compressor = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=self.filters)
        while (item := block.inbox.get()) is not None:
            if self._stop.is_set():
                break
            data = item.read_bytes() if isinstance(item, Path) else item
            block.digests.append((len(data), hashlib.sha256(data).hexdigest(), zlib.crc32(data)))
            if data:
                block.packed.append(compressor.compress(data))
                block.unpacked += len(data)
        block.packed.append(compressor.flush())
        return block

    def close(self) -> list[Written]:
        """Wait for the blocks, write the archive; what was archived, in archive order."""
        for block in self._blocks[self._current:]:
            block.inbox.put(None)
        for future in self._futures:
            future.result()                              # a block's error is raised here
        self._pool.shutdown()
        folders: list[tuple[_Block, list[Written]]] = []
        written: list[Written] = []
        for block in self._blocks:
            mine = [Written(name, mtime, *digests)
                    for (name, mtime), digests in zip(block.members, block.digests)]
            written += mine
            if mine:
                folders.append((block, mine))
        start = self.fp.tell()
        self.fp.write(bytes(32))                          # the signature header, at the end
        for block, _ in folders:
            for chunk in block.packed:
                self.fp.write(chunk)
        header = _header(folders, written, self.filters[0])
        offset = self.fp.tell() - start - 32
        self.fp.write(header)
        end = self.fp.tell()
        start_header = struct.pack("<QQI", offset, len(header), zlib.crc32(header))
        self.fp.seek(start)
        self.fp.write(SIGNATURE + struct.pack("<I", zlib.crc32(start_header)) + start_header)
        self.fp.seek(end)
        return written

    def abort(self) -> None:
        """Stop the threads; nothing more is written."""
        self._stop.set()
        for block in self._blocks:
            block.inbox.put(None)
        self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> ParallelWriter:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            self.abort()


# ---- the header -------------------------------------------------------------------------------

def _number(value: int) -> bytes:
    """7z's variable-length integer: the first byte's leading ones count the bytes after it."""
    for extra in range(8):
        if value < 1 << (7 * (extra + 1)):          # value bits: 8 × extra + (7 − extra)
            high = value >> (8 * extra)
            first = (0xFF00 >> extra) & 0xFF | high
            return bytes([first]) + (value & ((1 << 8 * extra) - 1)).to_bytes(extra, "little")
    return b"\xff" + value.to_bytes(8, "little")


def _property(pid: int, data: bytes) -> bytes:
    return bytes([pid]) + _number(len(data)) + data


def lzma2_dict_byte(dict_size: int) -> int:
    """The LZMA2 coder property: the smallest dictionary size code covering `dict_size`."""
    for code in range(40):
        if (2 | (code & 1)) << (code // 2 + 11) >= dict_size:
            return code
    return 40


def _header(folders: list[tuple[_Block, list[Written]]], written: list[Written],
            lzma2: dict) -> bytes:
    out = bytearray([K_HEADER])
    if folders:
        dict_size = lzma2.get("dict_size") or _preset_dict_size(lzma2.get("preset", 6))
        coder = bytes([0x20 | 1, LZMA2_ID]) + _number(1) + bytes([lzma2_dict_byte(dict_size)])
        streams = [s for _, s in folders]
        out += bytes([K_MAIN_STREAMS, K_PACK_INFO]) + _number(0) + _number(len(folders))
        out += bytes([K_SIZE]) + b"".join(_number(sum(map(len, b.packed))) for b, _ in folders)
        out += bytes([K_END, K_UNPACK_INFO, K_FOLDER]) + _number(len(folders)) + b"\x00"
        out += b"".join(_number(1) + coder for _ in folders)
        out += bytes([K_CODERS_UNPACK_SIZE]) + b"".join(_number(b.unpacked) for b, _ in folders)
        out += bytes([K_END, K_SUBSTREAMS, K_NUM_UNPACK_STREAM])
        out += b"".join(_number(len(s)) for s in streams)
        if any(len(s) > 1 for s in streams):
            out += bytes([K_SIZE]) + b"".join(_number(w.size) for s in streams for w in s[:-1])
        out += bytes([K_CRC, 1]) + b"".join(struct.pack("<I", w.crc32) for s in streams for w in s)
        out += bytes([K_END, K_END])
    out += bytes([K_FILES_INFO]) + _number(len(written))
    names = b"".join(w.name.encode("utf-16-le") + b"\x00\x00" for w in written)
    out += _property(K_NAME, b"\x00" + names)
    times = b"".join(struct.pack("<Q", int((w.mtime + FILETIME_EPOCH) * 10**7)) for w in written)
    out += _property(K_MTIME, b"\x01\x00" + times)
    out += _property(K_ATTRIBUTES, b"\x01\x00" + struct.pack("<I", ATTRIBUTES) * len(written))
    out += bytes([K_END, K_END])
    return bytes(out)


def _preset_dict_size(preset: int) -> int:
    """liblzma's dictionary size of a preset (when the filter does not give dict_size)."""
    return [1 << 18, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20,
            32 << 20, 64 << 20][preset & 0x1F]
