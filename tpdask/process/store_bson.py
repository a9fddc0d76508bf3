"""A bucket's viewer-day documents as BSON, assembled from the inversion's arrays.

The MongoDB store keeps each viewer-day as the document :func:`tpdask.stores.mongo_docs.to_doc`
makes of its record. Building that dict per record (:func:`tpdask.process.inversion.records`) and
``bson.encode``-ing it cost the day job's phase-2 workers 31.8 task-seconds at scale 1,
on the two cores the FerretDB server needs for the inserts. BSON is length-prefixed
binary, so the same bytes can be put together a level at a time, innermost first, by
Arrow binary kernels over the offset arrays (as :func:`tpdask.process.store_rows.streamers_json`
builds the SQLite JSON): no Python object per document, pair or session.

The bytes are exactly those of ``bson.encode(to_doc(record, load))`` (tests/test_store_bson.py
checks it), so what readers decode is unchanged:

- keys in ``to_doc``'s order (``_id``, the record's keys, ``load``, ``streamers``; per
  streamer ``samples``, ``minutes``, ``sessions``; per session ``start``, ``end``);
- an int is int32 when it fits, else int64, as ``bson.encode`` writes a Python int;
- minutes are an int when whole, else a double (:func:`tpdask.process.inversion.minutes`);
- an array is a document whose keys are ``"0"``, ``"1"``, ...

An element is ``type byte, key, 0 byte, value``; a document is ``int32 total length,
elements, 0 byte``; a string value is ``int32 length + 1, UTF-8 bytes, 0 byte``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tpdask.process.inversion import Inverted

#: BSON element types.
DOUBLE, STRING, DOCUMENT, ARRAY, INT32, INT64 = b"\x01", b"\x02", b"\x03", b"\x04", b"\x10", b"\x12"

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_EMPTY = pa.scalar(b"", pa.binary())


def _bytes(value: bytes) -> pa.Scalar:
    return pa.scalar(value, pa.binary())


def _join(*parts: pa.Array | pa.Scalar) -> pa.Array:
    """The parts concatenated row by row (scalars repeat on every row)."""
    return pc.binary_join_element_wise(*parts, _EMPTY)


def _concat(offsets: np.ndarray, values: pa.Array) -> pa.Array:
    """Row i: ``values[offsets[i]:offsets[i+1]]`` concatenated (an offset array's groups)."""
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values),
                          _EMPTY)


def _little_endian(values: np.ndarray, dtype: str) -> pa.Array:
    """Each value's little-endian bytes (``"<i4"``, ``"<i8"``, ``"<f8"``) as a binary row."""
    raw = np.ascontiguousarray(values, dtype=dtype)
    width = raw.dtype.itemsize
    fixed = pa.Array.from_buffers(pa.binary(width), len(raw), [None, pa.py_buffer(raw)])
    return fixed.cast(pa.binary())


def _length(values: pa.Array) -> np.ndarray:
    return pc.binary_length(values).to_numpy(zero_copy_only=False).astype(np.int64)


def _header(kind: bytes, key: bytes) -> pa.Scalar:
    return _bytes(kind + key + b"\0")


def int_elements(key: bytes, values: np.ndarray) -> pa.Array:
    """``key: value`` elements as ``bson.encode`` writes Python ints: int32 if it fits."""
    values = np.asarray(values, dtype=np.int64)
    fits = (values >= INT32_MIN) & (values <= INT32_MAX)
    int32 = _join(_header(INT32, key), _little_endian(np.where(fits, values, 0), "<i4"))
    if fits.all():
        return int32
    int64 = _join(_header(INT64, key), _little_endian(values, "<i8"))
    return pc.if_else(pa.array(fits), int32, int64)


def minutes_elements(samples: np.ndarray, interval: int) -> pa.Array:
    """``minutes: samples × interval / 60`` elements: an int when whole, else a double."""
    minutes = np.asarray(samples, dtype=np.int64) * interval / 60
    whole = np.equal(np.floor(minutes), minutes)
    ints = int_elements(b"minutes", np.where(whole, minutes, 0).astype(np.int64))
    if whole.all():
        return ints
    doubles = _join(_header(DOUBLE, b"minutes"), _little_endian(minutes, "<f8"))
    return pc.if_else(pa.array(whole), ints, doubles)


def string_elements(key: bytes, values: pa.Array) -> pa.Array:
    """``key: string`` elements of a string array."""
    data = values.cast(pa.binary())
    return _join(_header(STRING, key), _little_endian(_length(data) + 1, "<i4"), data,
                 _bytes(b"\0"))


def string_element(key: bytes, value: str) -> bytes:
    """One ``key: string`` element (the same on every document: the day, the load)."""
    data = value.encode()
    return STRING + key + b"\0" + (len(data) + 1).to_bytes(4, "little") + data + b"\0"


def documents(elements: pa.Array) -> pa.Array:
    """Each row's elements as a document: total length (int32), the elements, a 0 byte."""
    return _join(_little_endian(_length(elements) + 5, "<i4"), elements, _bytes(b"\0"))


def sessions_arrays(inv: Inverted) -> pa.Array:
    """Each pair's ``sessions``: an array of ``{start, end}`` documents."""
    offsets = inv.session_offsets
    index = np.arange(inv.n_sessions) - np.repeat(offsets[:-1], np.diff(offsets))
    keys = pc.cast(pa.array(index), pa.string()).cast(pa.binary())
    bounds = _join(int_elements(b"start", inv.session_start),
                   int_elements(b"end", inv.session_end))
    session = _join(_bytes(DOCUMENT), keys, _bytes(b"\0"), documents(bounds))
    return documents(_concat(offsets, session))


def streamers_documents(inv: Inverted, interval: int) -> pa.Array:
    """Each viewer's ``streamers``: ``{login: {samples, minutes, sessions}}``."""
    names = pa.array(inv.streamer_names, pa.string()).cast(pa.binary())
    logins = names.take(pa.array(inv.pair_streamer))
    body = _join(int_elements(b"samples", inv.pair_samples),
                 minutes_elements(inv.pair_samples, interval),
                 _header(ARRAY, b"sessions"), sessions_arrays(inv))
    pair = _join(_bytes(DOCUMENT), logins, _bytes(b"\0"), documents(body))
    return documents(_concat(inv.pair_offsets, pair))


def viewer_day_ids(inv: Inverted, day: str, load: str) -> pa.Array:
    """Each document's ``_id``: ``<day>:<viewer>:<load>``, or ``<day>:<viewer>`` when the
    load is the direct one (``""``), as :func:`tpdask.stores.mongo_docs.to_doc`."""
    viewers = pa.array(inv.viewers, pa.string())
    suffix = f":{load}" if load else ""
    return pc.binary_join_element_wise(pa.scalar(f"{day}:"), viewers, pa.scalar(suffix),
                                       pa.scalar(""))


def viewer_day_documents(inv: Inverted, day: str, interval: int, load: str,
                         ids: pa.Array) -> pa.Array:
    """The bucket's documents, in viewer order: ``bson.encode(to_doc(record, load))``."""
    body = _join(string_elements(b"_id", ids),
                 string_elements(b"viewer", pa.array(inv.viewers, pa.string())),
                 _bytes(string_element(b"day", day)),
                 int_elements(b"samples", inv.samples),
                 minutes_elements(inv.samples, interval),
                 int_elements(b"first_ts", inv.first_ts),
                 int_elements(b"last_ts", inv.last_ts),
                 _bytes(string_element(b"load", load)),
                 _header(DOCUMENT, b"streamers"), streamers_documents(inv, interval))
    return documents(body)
