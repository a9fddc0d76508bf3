"""Phase 1 works on codes: a batch's entries are interned once, checked and normalised once
per distinct entry, and written as bucket chunks whose viewer column is dictionary-encoded
with that bucket's logins; phase 2 merges the chunks' dictionaries into sorted codes.

Dirty data on purpose: fixable forms of a login that is also listed clean (" Alice " and
"alice" must be one viewer), fixable forms with no clean twin, and invalid entries of
every JSON kind (numbers, booleans, null, objects and lists, which Python cannot hash).
Everything must equal the plain reference and count invalid entries per observation.
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.process_day import process_day
from tests.support import make_config, sample, stored_records, write_samples
from tpdask.executor import LocalExecutor
from tpdask.process.bucket import _sorted_codes, invert_table, read_bucket
from tpdask.process.inversion import records
from tpdask.process.partition import PartitionTask, bucket_of, encode_strings, partition
from tpdask.process.reference import _login, reference_viewer_days

DAY = "2022-08-01"
T0 = 1659312000

DIRTY = ["alice", " Alice ", "ALICE\t", "alice",          # fixable twins of a clean login
         "Bob", " bob",                                    # fixable, no clean twin
         "carol", "none", "true", "1",                     # clean (not null, True or 1)
         42, 1, True, 1.0, None, {"x": 1}, ["y"], [],      # not strings: invalid
         "", "   ", "bad-login", "x" * 26, "dé", "İ"]         # strings, invalid


def dirty_samples() -> list[dict]:
    """Eight samples: the dirty list in a rotating slice of one chat, clean chats beside it."""
    out = []
    for i in range(8):
        doc = sample(T0 + 300 * i, {
            "streamer_a": DIRTY[i % 3:] + [f"clean{j}" for j in range(i, i + 40)],
            "Streamer_B ": ["carol", " CAROL", f"clean{i}", 7] if i != 3 else [],
            "streamer_c": [["only"], {"bad": True}, None],       # no valid entry at all
        })
        if i % 2 == 0:          # a source that reports ids (one is not digits, one is null)
            chat = doc["streams"]["streamer_a"]["chatters"]
            doc["streams"]["streamer_a"]["chatter_ids"] = [
                "x1" if j == 1 else None if j == 2 else str(1000 + j) for j in range(len(chat))]
        out.append(doc)
    return out


def entries_of(samples: list[dict]) -> list:
    return [e for s in samples for stream in s["streams"].values() for e in stream["chatters"]]


def test_the_day_job_on_dirty_entries_equals_the_reference(tmp_path):
    samples = dirty_samples()
    config = make_config(tmp_path)
    write_samples(config, DAY, samples)
    report = process_day(config, DAY, LocalExecutor(log=lambda m: None), log=lambda m: None)
    entries = entries_of(samples)
    invalid = sum(_login(e) is None for e in entries)
    assert stored_records(config, DAY) == reference_viewer_days(samples, DAY)
    assert report["invalid_entries"] == invalid > 0
    assert report["entries"] == len(entries) - invalid              # valid entries
    assert report["observations"] == len({           # a login listed twice counts once
        (_login(e), key.strip().lower(), s["ts"]) for s in samples
        for key, stream in s["streams"].items() for e in stream["chatters"]
        if _login(e) is not None})
    assert {"alice", "bob", "carol", "none", "true", "1"} <= set(stored_records(config, DAY))


def run_partition(tmp_path, samples: list[dict], n_buckets: int, flush_bytes: int):
    folder = tmp_path / "samples"
    folder.mkdir()
    names = []
    for s in samples:
        names.append(f"{s['ts']}.json")
        (folder / names[-1]).write_bytes(orjson.dumps(s))
    task = PartitionTask(day=DAY, task_id=0, n_buckets=n_buckets, scratch=str(tmp_path / "scratch"),
                         quarantine_dir=str(tmp_path / "q"), folder=str(folder),
                         folder_files=tuple(names), streams_dir=str(tmp_path / "streams"),
                         ids_dir=str(tmp_path / "ids"), flush_bytes=flush_bytes)
    return task, partition(task)


def test_bucket_chunks_hold_only_their_logins_and_invert_to_the_reference(tmp_path):
    samples = dirty_samples()
    # a flush every ~2 samples: a login's entries are spread over several chunks per bucket
    task, report = run_partition(tmp_path, samples, n_buckets=3, flush_bytes=1500)
    assert report.chunks >= 3
    times = np.array(sorted(s["ts"] for s in samples), dtype=np.int64)
    got = {}
    for b in range(3):
        table = read_bucket(task.scratch, b)
        for chunk in table.column("viewer").chunks:
            assert pa.types.is_dictionary(chunk.type)
            logins = chunk.dictionary
            assert len(set(logins.to_pylist())) == len(logins)          # distinct per chunk
            assert (bucket_of(logins, 3) == b).all()                    # stable buckets
        got.update({r["viewer"]: r for r in records(invert_table(table, times, 900), DAY, 300)})
    assert got == reference_viewer_days(samples, DAY)


def test_streams_and_ids_tables_count_distinct_valid_logins(tmp_path):
    samples = dirty_samples()
    task, _ = run_partition(tmp_path, samples, n_buckets=2, flush_bytes=1500)
    streams = pq.read_table(task.streams_dir).to_pylist()
    expected = [(s["ts"], key.strip().lower(),
                 len({_login(e) for e in st["chatters"]} - {None}))
                for s in samples for key, st in s["streams"].items()]
    assert sorted((r["ts"], r["streamer"], r["chatters"]) for r in streams) == sorted(expected)
    pairs = {(r["viewer"], r["user_id"]) for r in pq.read_table(task.ids_dir).to_pylist()}
    expected_pairs = {(_login(e), i) for s in samples
                      for e, i in zip(s["streams"]["streamer_a"]["chatters"],
                                      s["streams"]["streamer_a"].get("chatter_ids", []))
                      if _login(e) is not None and isinstance(i, str) and i.isdigit()}
    assert pairs == expected_pairs and ("alice", "1000") in pairs


def test_a_batch_of_only_invalid_entries(tmp_path):
    samples = [sample(T0, {"s": [[1], {"a": 2}, None, 3.5, "-"]})]
    _, report = run_partition(tmp_path, samples, n_buckets=2, flush_bytes=1 << 20)
    assert (report.invalid_entries, report.observations) == (5, 0)


def test_encode_strings_round_trips_nulls_empty_and_sliced_arrays():
    values = pa.array(["b", None, "", "ab", "b", None, "é", "", "ab", "zz" * 20])
    for arr in (values, values.slice(3, 5), values.slice(0, 0), pa.array([None, None], pa.string()),
                pa.array(["", ""])):
        distinct, codes = encode_strings(arr)
        assert codes.dtype == np.int32 and len(codes) == len(arr)
        assert distinct.take(pa.array(codes)).to_pylist() == arr.to_pylist()
        assert sorted(map(str, distinct.to_pylist())) == sorted(map(str, set(arr.to_pylist())))


def test_sorted_codes_merge_the_chunks_dictionaries():
    dictionaries = pa.chunked_array([
        pa.array(["m", "a", "m"]).dictionary_encode(),
        pa.DictionaryArray.from_arrays(pa.array([1, 1, 0], pa.int32()), pa.array(["q", "b"])),
        pa.DictionaryArray.from_arrays(pa.array([0, 2], pa.int32()), pa.array(["z", "q", "a"])),
    ])
    plain = pa.chunked_array([pa.array(["m", "a", "m", "b", "b", "q"]), pa.array(["z", "a"])])
    for values in (dictionaries, plain):
        codes, names = _sorted_codes(values)
        assert names == ["a", "b", "m", "q", "z"]
        assert [names[c] for c in codes] == ["m", "a", "m", "b", "b", "q", "z", "a"]
    assert _sorted_codes(pa.chunked_array([], pa.string()))[1] == []
