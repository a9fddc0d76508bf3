"""Shared pytest fixtures."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the package is used from the work tree, not installed


# --- stores: a real MongoDB-protocol server (FerretDB) and the `store` fixture -----------
# `make test` runs pytest under scripts/ferretdb.py, which sets TPDASK_TEST_MONGO_URI; a
# bare `pytest` starts FerretDB itself from the binary that `make test` built.

from tpdask.stores import Store, open_store  # noqa: E402


def _load_launcher() -> ModuleType:
    """scripts/ferretdb.py (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "ferretdb_launcher", ROOT / "scripts" / "ferretdb.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """URI of a MongoDB-protocol server for the whole session (no database in it)."""
    uri = os.environ.get("TPDASK_TEST_MONGO_URI")
    if uri:
        yield uri
        return
    launcher = _load_launcher()
    with ExitStack() as stack:
        try:
            uri = stack.enter_context(launcher.running_ferretdb(launcher.DEFAULT_BINARY))
        except (OSError, RuntimeError) as e:
            problem = str(e)
        else:
            yield uri
            return
    pytest.fail(
        f"no MongoDB server for the tests: TPDASK_TEST_MONGO_URI is unset and FerretDB could "
        f"not start ({problem}) — run `make test`, which builds and starts it",
        pytrace=False,
    )


def with_database(uri: str, database: str) -> str:
    """``uri`` pointing at ``database``, with a socket timeout so a stuck server fails a test."""
    parts = urlsplit(uri)
    query = parts.query or "socketTimeoutMS=60000"
    return urlunsplit(parts._replace(path="/" + database, query=query))


@pytest.fixture(params=["sqlite", "mongodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of each backend: test ids end in ``[sqlite]`` / ``[mongodb]``."""
    if request.param == "sqlite":
        with open_store(f"sqlite:///{tmp_path / 'tpdask.sqlite'}") as s:
            yield s
        return
    database = f"tpdask_test_{uuid.uuid4().hex[:12]}"
    uri = with_database(request.getfixturevalue("mongo_uri"), database)
    with open_store(uri) as s:
        yield s
    client = pymongo.MongoClient[dict[str, object]](uri)
    client.drop_database(database)
    client.close()


# --- end of stores ---------------------------------------------------------------------


@pytest.fixture
def mongo_database_uri(mongo_uri: str) -> Iterator[str]:
    """URI of a fresh MongoDB database for one test, dropped afterwards."""
    import pymongo

    database = f"tpdask_test_{uuid.uuid4().hex[:12]}"
    uri = with_database(mongo_uri, database)
    yield uri
    client: pymongo.MongoClient = pymongo.MongoClient(uri)
    client.drop_database(database)
    client.close()


@pytest.fixture(scope="module")
def accounts_sim():
    """The Twitch simulator of ACCOUNTS_DAY (tests.support), shared by a module's tests:
    the verifier's, which only read its accounts (faults they switch on are reset)."""
    from tests.support import ACCOUNTS_DAY, ACCOUNTS_SCALE
    from tpdask.simulator import Simulator
    from tpdask.simulator.audience import AudienceConfig

    with Simulator(ACCOUNTS_DAY, AudienceConfig(scale=ACCOUNTS_SCALE)) as sim:
        yield sim
