"""Pseudonymous mode end to end (issue 19, item 1): the real collector (helix source, over
HTTP) collects from the Twitch simulator with a pseudonym key; the day is archived,
processed, analysed, its overlap and broadcasts made, and served by the website. No login
the simulator listed is in any file of the data folder (archive members and Parquet rows
included), in the store, or in any page or answer an admin or a visitor reaches; the same
key gives the same pseudonyms in another run."""

from __future__ import annotations

import orjson
import pytest

from jobs.analyse import analyse_command
from jobs.insight import broadcasts
from jobs.overlap import overlap
from jobs.process_day import process_command
from tests.crawl_support import crawl, leak_finder
from tests.privacy_support import files_naming, store_naming
from tests.support import make_config
from tests.web_support import PASSWORDS, add_user, login, running_site
from tpdask.archive.pack import archive_day
from tpdask.collect.collector import Collector, helix_selector
from tpdask.collect.credentials import Credentials
from tpdask.collect.sources.helix import HelixSource
from tpdask.collect.twitch import TwitchClient
from tpdask.days import day_bounds
from tpdask.privacy.keys import KEY_ENV, KEY_FILE_ENV
from tpdask.privacy.pseudonyms import Pseudonymizer, is_pseudonym
from tpdask.samples import normalise_login
from tpdask.simulator import SimOptions, Simulator
from tpdask.simulator.audience import AudienceConfig

DAY = "2022-08-01"
KEY = "an end-to-end pseudonym key, 32+"
TICKS = 30
QUIET = dict(log=lambda m: None)


class Recording:
    """A source that remembers, in memory only, every chatter login it returned."""

    def __init__(self, source: HelixSource) -> None:
        self.source, self.name, self.seen = source, source.name, set()

    def observe(self, channels):
        found = self.source.observe(channels)
        for observation in found.values():
            self.seen.update(filter(None, map(normalise_login, observation.chatters)))
        return found

    def close(self) -> None:
        self.source.close()


def collect(config, ticks: int = TICKS) -> tuple[set[str], set[str]]:
    """Collect ``ticks`` samples from 18:00 of DAY; (logins the source saw, streamers)."""
    start = day_bounds(DAY)[0] + 18 * 3600
    options = SimOptions(mod_top=12, rate_limit=1_000_000)
    model = AudienceConfig(seed=7, scale=0.004, interval=config.interval)
    with Simulator(DAY, model, speed=3000, start=start, options=options) as sim:
        client = TwitchClient(Credentials(sim.client_id, sim.client_secret, sim.user_token,
                                          sim.user_refresh_token),
                              sim.urls["helix_url"], sim.urls["auth_url"], **QUIET)
        select = helix_selector(client, "fr", 100, [])
        source = Recording(HelixSource(client, **QUIET))
        source.observe(select(start))
        source.seen.clear()
        sim.clock.reanchor(start)
        collector = Collector(config.samples_dir, select, source, sim.clock, config.interval,
                              **QUIET)
        results = collector.run(first_ts=start, ticks=ticks)
        streamers = set(sim.world.model(DAY).streamer_logins)
    assert sum(1 for r in results if r.path) >= ticks - 2
    return source.seen, streamers


def names_written(config) -> set[str]:
    """Every chatter name the samples hold."""
    return {c for path in (config.samples_dir / DAY).glob("*.json")
            for v in orjson.loads(path.read_bytes())["streams"].values() for c in v["chatters"]}


@pytest.fixture(scope="module")
def pseudonymous(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv(KEY_ENV, KEY)
    patch.delenv(KEY_FILE_ENV, raising=False)
    try:
        config = make_config(tmp_path_factory.mktemp("pseudonymous"))
        seen, streamers = collect(config)
        again = make_config(tmp_path_factory.mktemp("again"))
        seen_again, _ = collect(again)
        runs = [(seen, names_written(config) - streamers),
                (seen_again, names_written(again) - streamers)]
        yield config, seen - streamers, runs
    finally:
        patch.undo()


def test_no_login_anywhere_from_collection_to_the_website(pseudonymous, monkeypatch):
    config, logins, runs = pseudonymous
    assert len(logins) > 300 and all(is_pseudonym(name) for name in runs[0][1])
    monkeypatch.setenv(KEY_ENV, KEY)
    assert files_naming(config.data_dir, sorted(logins)) == []            # the samples
    archive_day(config, DAY, **QUIET)
    process_command(config, DAY, local=True, **QUIET)
    analyse_command(config, [DAY], local=True, **QUIET)
    overlap(config, DAY, DAY, **QUIET)
    broadcasts(config, DAY, DAY, **QUIET)
    assert files_naming(config.data_dir, sorted(logins)) == []
    assert store_naming(config.store, sorted(logins)) == []
    for role, password in PASSWORDS.items():
        add_user(config.data_dir, role, role, password)
    find = leak_finder(sorted(logins))
    with running_site(config.data_dir) as base:
        for role in ("admin", "visitor"):
            answers = crawl(base, login(base, role, PASSWORDS[role]))
            assert len(answers) > 50
            for answer in answers:
                found = find.search(answer.url) or find.search(answer.text)
                assert not found, f"{answer.url} names {found.group(1)}"


def test_the_same_key_gives_the_same_pseudonyms_in_another_run(pseudonymous):
    """Each run wrote the key's pseudonyms of the logins it saw (a tick that overran writes
    no sample: nearly all), so a login seen by both runs has one pseudonym in both."""
    _, _, runs = pseudonymous
    named = Pseudonymizer(KEY.encode()).pseudonym
    for seen, written in runs:
        expected = {named(login) for login in seen}
        assert written <= expected and len(written) >= 0.9 * len(expected)
    both = {named(login) for login in runs[0][0] & runs[1][0]}
    assert len(runs[0][1] & runs[1][1] & both) >= 0.9 * len(both) > 300
