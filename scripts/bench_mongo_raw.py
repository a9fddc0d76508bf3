"""Where a MongoDB server's time goes for the day job's documents, and its raw insert rate.

    python scripts/ferretdb.py -- .venv/bin/python scripts/bench_mongo_raw.py [SCALE]

Builds the seeded bench day's viewer-day documents exactly as the day job stages them
(phase 1 and the inversion run in this process on the cached loose files of
``data/bench/inputs/``; then ``tpdask.process.store_rows.mongo_rows``), then times, against the
server at ``$TPDASK_TEST_MONGO_URI`` (or ``--uri``):

- client encoding: ``bson.encode`` of every document (what a writer without ready BSON pays);
- raw inserts: unordered ``insert_many`` of the ready BSON (``RawBSONDocument``) in
  batches of ~4 MB into a fresh collection with the store's indexes, from 1 and from 2
  client threads; the server's CPU seconds (psutil, the process listening on the URI's
  port) against the client's. ``--indexes none`` (or ``both``) also times a collection
  with only ``_id``'s index: what the server pays to maintain the store's secondary
  indexes (FerretDB's SQLite backend keeps each as an index on JSON expressions);
  ``--batch_mb`` tries other command sizes than the store's. Each result gives the load
  average before and after it: on a shared machine the rate follows the load.

This is the ceiling for the job's store step: the job cannot stage faster than the
server inserts the same documents.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def documents(scale: float) -> list[bytes]:
    """The day's documents as BSON, as the job's buckets encode them."""
    import numpy as np

    from jobs.process_day import bucket_count
    from tpdask.archive.members import list_day
    from tpdask.bench.process import BENCH_DAY, SEED, _fmt_scale
    from tpdask.process.bucket import invert_table, read_bucket
    from tpdask.process.partition import PartitionTask, partition
    from tpdask.process.store_rows import mongo_rows

    folder = ROOT / "data" / "bench" / "inputs" / f"scale-{_fmt_scale(scale)}-seed-{SEED}"
    files = list_day(folder, folder / "none", BENCH_DAY)
    if not files.folder_files:
        sys.exit(f"no bench day at {folder}: run `tpdask bench --scale {scale}` once first")
    n = bucket_count(files)
    with tempfile.TemporaryDirectory() as scratch:
        report = partition(PartitionTask(
            day=BENCH_DAY, task_id=0, n_buckets=n, scratch=scratch, quarantine_dir=scratch,
            folder=files.folder, folder_files=tuple(name for name, _ in files.folder_files)))
        times = np.asarray(sorted({ts for _, ts in report.samples}), dtype=np.int64)
        blobs: list[bytes] = []
        for b in range(n):
            inv = invert_table(read_bucket(scratch, b), times, 900)
            blobs += mongo_rows(inv, BENCH_DAY, 300, "raw").column("bson").to_pylist()
    return blobs


def server_process(uri: str) -> psutil.Process | None:
    port = int(uri.split("//")[1].split("/")[0].rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def _cpu_seconds(process: psutil.Process) -> float:
    """User + system seconds of every thread of ``process`` (from /proc/PID/stat)."""
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_inserts(db, blobs: list[bytes], threads: int, server, indexes: bool = True,
                  batch_bytes: int | None = None) -> dict:
    import pymongo
    from bson.raw_bson import RawBSONDocument

    from tpdask.stores.stage_mongo import INSERT_BATCH_BYTES, batches_by_bytes

    db.drop_collection("raw_insert")
    coll = db["raw_insert"]
    if indexes:     # the store's indexes on viewer_days (tpdask.stores.mongo)
        coll.create_index([("day", 1), ("load", 1), ("viewer", 1)], unique=True)
        coll.create_index([("viewer", pymongo.ASCENDING)])
    batch_bytes = batch_bytes or INSERT_BATCH_BYTES
    batches = list(batches_by_bytes(blobs, batch_bytes))

    def work(mine: list[list[bytes]]) -> None:
        for batch in mine:
            coll.insert_many([RawBSONDocument(b) for b in batch], ordered=False)

    load_before = os.getloadavg()[0]
    cpu = _cpu_seconds(server) if server else None
    client_cpu = time.process_time()
    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(batches[i::threads],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    assert coll.estimated_document_count() == len(blobs)
    result = {"threads": threads, "indexes": "store" if indexes else "_id only",
              "batch_mb": round(batch_bytes / 2**20, 2),
              "documents": len(blobs), "seconds": round(wall, 2),
              "documents_per_second": round(len(blobs) / wall),
              "client_cpu_seconds": round(time.process_time() - client_cpu, 2),
              "load": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    if server:
        result["server_cpu_seconds"] = round(_cpu_seconds(server) - cpu, 2)
    db.drop_collection("raw_insert")
    return result


def main() -> None:
    import bson
    import pymongo

    parser = argparse.ArgumentParser()
    parser.add_argument("scale", type=float, nargs="?", default=1.0)
    parser.add_argument("--uri", default=os.environ.get("TPDASK_TEST_MONGO_URI"))
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--indexes", choices=["store", "none", "both"], default="store",
                        help="the store's indexes, only _id's, or one run of each")
    parser.add_argument("--batch_mb", type=float, nargs="*", default=[None],
                        help="MiB of BSON per insert command (default: the store's)")
    args = parser.parse_args()
    if not args.uri:
        sys.exit("no server: run under scripts/ferretdb.py or give --uri")
    print(f"building the scale {args.scale:g} day's documents ...", flush=True)
    blobs = documents(args.scale)
    docs = [bson.decode(b) for b in blobs[:200_000]]
    started = time.perf_counter()
    for doc in docs:
        bson.encode(doc)
    encode_s = (time.perf_counter() - started) * len(blobs) / len(docs)
    print(f"{len(blobs):,} documents, {sum(map(len, blobs)) / 1e6:.0f} MB of BSON; "
          f"client bson.encode of them all: {encode_s:.2f} s", flush=True)
    client = pymongo.MongoClient(args.uri)
    db = client.get_default_database("tpdask_raw")
    server = server_process(args.uri)
    for indexes in {"store": [True], "none": [False], "both": [True, False]}[args.indexes]:
        for threads in args.threads:
            for mb in args.batch_mb:
                batch_bytes = int(mb * 2**20) if mb else None
                print(timed_inserts(db, blobs, threads, server, indexes, batch_bytes), flush=True)
    client.close()


if __name__ == "__main__":
    main()
