"""Pseudonymous mode (issue 19, item 1): the key, the pseudonyms, and what collection and
import_tmi write under it. The end to end run (simulator → web) is
tests/test_pseudonymous_end_to_end.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.support import make_config
from tpdask.collect.collector import make_collector
from tpdask.collect.import_tmi import import_tmi
from tpdask.errors import ConfigError
from tpdask.privacy.keys import KEY_ENV, KEY_FILE_ENV, pseudonym_key
from tpdask.privacy.policy import ChatterPolicy, refuse_if_pseudonymous
from tpdask.privacy.pseudonyms import CollisionWatch, Pseudonymizer, is_pseudonym
from tpdask.samples import LOGIN_RE

ROOT = Path(__file__).resolve().parent.parent
KEY = "k3y-for-tests-0123456789abcdef"
T0 = 1659312000          # 2022-08-01T00:00:00Z


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


def test_pseudonyms_match_the_login_rule_are_stable_and_keyed():
    a, b = Pseudonymizer(KEY.encode()), Pseudonymizer(KEY.encode())
    other = Pseudonymizer(b"another key of enough length")
    logins = [f"viewer_{i}" for i in range(2000)] + ["a", "x" * 25]
    made = [a.pseudonym(login) for login in logins]
    assert all(LOGIN_RE.fullmatch(p) and is_pseudonym(p) for p in made)
    assert len(set(made)) == len(logins)
    assert made == [b.pseudonym(login) for login in logins]            # same key, same names
    assert not set(made) & {other.pseudonym(login) for login in logins}
    assert all(login not in p for login, p in zip(logins, made) if len(login) > 4)


def test_a_collision_is_found_within_a_batch_and_across_batches():
    p = Pseudonymizer(KEY.encode())
    watch = CollisionWatch(remember=100)
    first = [p.digest(f"u{i}") for i in range(300)]                    # spans two generations
    assert watch.check(first) == [] and watch.check(first) == []
    name, key, check = first[5]
    assert watch.check([(name, key, check ^ 1)]) == [name]                # another login
    twin = first[250]
    assert watch.check([twin, (twin[0], twin[1], twin[2] ^ 2)]) == [twin[0]]


def test_the_key_comes_from_the_environment_or_a_private_file(tmp_path):
    assert pseudonym_key({}) is None
    assert pseudonym_key({KEY_ENV: KEY}) == KEY.encode()
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        pseudonym_key({KEY_FILE_ENV: str(key_file)})
    assert KEY not in str(caught.value)
    key_file.chmod(0o600)
    assert pseudonym_key({KEY_FILE_ENV: str(key_file)}) == KEY.encode()
    with pytest.raises(ConfigError, match="too short") as caught:
        pseudonym_key({KEY_ENV: "short"})
    assert "short" not in str(caught.value).split("too short")[0]
    with pytest.raises(ConfigError, match="set one of them"):
        pseudonym_key({KEY_ENV: KEY, KEY_FILE_ENV: str(key_file)})


def test_the_collector_writes_pseudonyms_and_no_ids_and_keeps_streamer_names(tmp_path, keyed):
    config = make_config(tmp_path)
    collector = make_collector(config, source="sim", top=10, speed=600, start=T0 + 36000,
                               log=lambda m: None)
    results = collector.run(ticks=2)
    key_id = Pseudonymizer(KEY.encode()).key_id
    seen = 0
    for result in results:
        sample = orjson.loads(result.path.read_bytes())
        assert sample["pseudonyms"] == key_id
        for streamer, stream in sample["streams"].items():
            assert not is_pseudonym(streamer) and "chatter_ids" not in stream
            for chatter in stream["chatters"]:
                assert is_pseudonym(chatter) or chatter == streamer
                seen += 1
    assert seen > 100
    marker = orjson.loads((config.data_dir / "privacy" / "pseudonymous.json").read_bytes())
    assert marker["key_id"] == key_id and KEY not in str(marker)


def test_a_pseudonymous_folder_refuses_no_key_and_another_key(tmp_path, keyed, monkeypatch):
    config = make_config(tmp_path)
    ChatterPolicy.for_data_dir(config.data_dir)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match="pseudonymous data folder"):
        make_collector(config, source="sim", log=lambda m: None)
    monkeypatch.setenv(KEY_ENV, "another key, long enough for the rule")
    with pytest.raises(ConfigError, match="another key") as caught:
        make_collector(config, source="sim", log=lambda m: None)
    assert "another key, long" not in str(caught.value)


def test_the_verifier_refuses_and_says_why(tmp_path, keyed):
    config = make_config(tmp_path)
    with pytest.raises(ConfigError, match="does not run in pseudonymous mode"):
        refuse_if_pseudonymous(config.data_dir, "verify")
    from tpdask.verify import verify
    with pytest.raises(ConfigError, match="keyed hashes"):
        verify(config, client=object())


def test_import_tmi_writes_pseudonyms_and_keeps_no_bad_dump(tmp_path, keyed):
    config = make_config(tmp_path)
    dumps = tmp_path / "dumps" / "somechannel"
    dumps.mkdir(parents=True)
    (dumps / f"{T0 + 60}.json").write_text(orjson.dumps({"chatter_count": 3, "chatters": {
        "broadcaster": ["somechannel"], "viewers": ["Alice_01", "bob_02", "not valid!"]}}).decode())
    (dumps / f"{T0 + 400}.json").write_text('{"chatters": ["carol_secret"')   # unreadable
    report = import_tmi(config, tmp_path / "dumps", log=lambda m: None)
    assert report.pseudonymous and report.dumps_quarantined == 1
    sample = orjson.loads((config.samples_dir / "2022-08-01" / f"{T0}.json").read_bytes())
    chatters = sample["streams"]["somechannel"]["chatters"]
    p = Pseudonymizer(KEY.encode())
    assert chatters == ["somechannel", p.pseudonym("alice_01"), p.pseudonym("bob_02")]
    for path in config.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            assert b"alice_01" not in data and b"bob_02" not in data
            assert b"carol_secret" not in data, path


def test_the_key_is_never_on_a_command_line_nor_in_output(tmp_path):
    """There is no option for it, and nothing a command prints shows it."""
    result = subprocess.run(
        [sys.executable, "-m", "tpdask", "--data_dir", str(tmp_path / "data"), "collect",
         "--source", "sim", "--once"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), KEY_ENV: KEY})
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    usage = subprocess.run([sys.executable, "-m", "tpdask"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60).stdout
    assert "pseudonym_key" not in usage
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()
