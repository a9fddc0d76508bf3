"""Run a command next to a throw-away FerretDB server (used by ``make test``).

    python scripts/ferretdb.py [--bin PATH] -- CMD ARGS...

The MongoDB store is tested against a real MongoDB-protocol server, never a mock. FerretDB
1.24.2 with its SQLite handler is one Go binary that needs no installation: this script
builds it into ``.cache/bin/ferretdb`` when missing or broken, starts it on free loopback ports
with a temporary data folder, runs CMD with ``TPDASK_TEST_MONGO_URI`` set, then stops the server
and removes the folder (also when CMD fails or on Ctrl-C), and exits with CMD's exit code.

Why not plain ``go install …/cmd/ferretdb@v1.24.2``: the module as published lacks the
generated ``build/version/version.txt``, so a binary built that way panics at start
("Invalid build/version/version.txt file content"). We build the same package from a copy
of the module source with that one file written, which is what FerretDB's own build does.

``tests/conftest.py`` imports :func:`running_ferretdb` to start a server itself when the
variable is unset.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO / ".cache" / "bin" / "ferretdb"
MODULE = "github.com/FerretDB/FerretDB"
VERSION = "v1.24.2"
ENV_VAR = "TPDASK_TEST_MONGO_URI"
START_TIMEOUT_S = 60.0


def binary_works(binary: Path) -> bool:
    """Whether ``binary`` exists and runs as FerretDB of the expected version."""
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and f"version: {VERSION}" in result.stdout


def ensure_binary(binary: Path = DEFAULT_BINARY) -> Path:
    """Build FerretDB into ``binary`` unless a working one is already there."""
    if binary_works(binary):
        return binary
    go = shutil.which("go")
    if go is None:
        sys.exit(
            f"{binary} is missing and `go` is not on PATH: install Go >= 1.21 to build FerretDB"
        )
    print(
        f"building FerretDB {VERSION} into {binary} (once; minutes on a cold Go cache) ...",
        flush=True,
    )
    download = subprocess.run(
        [go, "mod", "download", "-json", f"{MODULE}@{VERSION}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if download.returncode != 0:
        sys.exit(
            f"`go mod download {MODULE}@{VERSION}` failed:\n{download.stdout}{download.stderr}"
        )
    source_dir = json.loads(download.stdout)["Dir"]
    with tempfile.TemporaryDirectory(prefix="ferretdb-src-") as tmp:
        source = Path(tmp) / "FerretDB"
        shutil.copytree(source_dir, source)  # the module cache is read-only
        for path in source.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        (source / "build" / "version" / "version.txt").write_text(VERSION + "\n")
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [go, "build", "-o", str(binary.resolve()), "./cmd/ferretdb"], cwd=source, check=True
        )
    if not binary_works(binary):
        sys.exit(f"built {binary}, but `{binary} --version` does not report {VERSION}")
    return binary


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _ping(uri: str) -> bool:
    import pymongo  # only needed once the server runs; keeps `--help` dependency-free

    client = pymongo.MongoClient[dict[str, object]](uri, serverSelectionTimeoutMS=500)
    try:
        client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()


@contextlib.contextmanager
def running_ferretdb(binary: str | Path = DEFAULT_BINARY) -> Iterator[str]:
    """Run FerretDB (SQLite handler, temporary folder) and yield its ``mongodb://`` URI.

    Raises RuntimeError, with the end of the server's log, when it does not answer a ping
    within a minute.
    """
    binary = Path(binary)
    if not binary_works(binary):
        raise RuntimeError(f"no working FerretDB {VERSION} binary at {binary}")
    tmp = Path(tempfile.mkdtemp(prefix="tpdask-ferretdb-"))
    port, debug_port = free_ports(2)
    uri = f"mongodb://127.0.0.1:{port}/"
    log_path = tmp / "ferretdb.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    str(binary),
                    "--handler=sqlite",
                    f"--sqlite-url=file:{tmp}/",
                    f"--listen-addr=127.0.0.1:{port}",
                    f"--debug-addr=127.0.0.1:{debug_port}",
                    f"--state-dir={tmp}",
                    "--telemetry=disable",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches CMD; we stop the server after it
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ping(uri):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                state = (
                    f"exited with {process.returncode}"
                    if process.poll() is not None
                    else (f"did not answer within {START_TIMEOUT_S:.0f} s")
                )
                raise RuntimeError(f"FerretDB {state}; end of its log:\n{tail}")
            time.sleep(0.1)
        yield uri
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=f"Run CMD with a temporary FerretDB server; CMD gets its URI in ${ENV_VAR}.",
        usage="python scripts/ferretdb.py [--bin PATH] -- CMD ARGS...",
    )
    parser.add_argument("--bin", type=Path, default=DEFAULT_BINARY, help="FerretDB binary")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")

    def terminated(signum: int, frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, terminated)
    binary = ensure_binary(args.bin)
    try:
        with running_ferretdb(binary) as uri:
            print(f"FerretDB {VERSION.lstrip('v')} listening on {uri}", flush=True)
            try:
                child = subprocess.Popen(command, env={**os.environ, ENV_VAR: uri})
            except OSError as e:
                print(f"cannot run {command[0]!r}: {e}", file=sys.stderr)
                return 127
            try:
                return child.wait()
            except KeyboardInterrupt as e:
                # before the server goes, so that CMD can tear down cleanly
                _stop(child, polite=not isinstance(e, Terminated))
                return 130
    except KeyboardInterrupt:
        return 130
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1


class Terminated(KeyboardInterrupt):
    """SIGTERM reached this script: clean up as on Ctrl-C, without waiting for CMD."""


def _stop(child: subprocess.Popen[bytes], polite: bool) -> None:
    """Stop CMD: give it 10 s to end on its own Ctrl-C (if polite), then terminate, then kill."""
    actions = [None, child.terminate, child.kill] if polite else [child.terminate, child.kill]
    for action in actions:
        if action is not None:
            action()
        try:
            child.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting politely
            continue


if __name__ == "__main__":
    sys.exit(main())
