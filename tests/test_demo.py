"""`tpdask demo` never overwrites a data folder it did not make."""

import pytest

from jobs.demo import run_demo
from tests.support import make_config, sample, write_samples
from tpdask.errors import ConfigError


def test_the_demo_refuses_a_data_folder_holding_real_data_for_its_day(tmp_path):
    config = make_config(tmp_path)
    folder = write_samples(config, "2022-08-01", [sample(1659312000, {"s": ["ann"]})])
    with pytest.raises(ConfigError, match="already holds data for 2022-08-01"):
        run_demo(config, "2022-08-01", log=lambda m: None)
    assert (folder / "1659312000.json").exists()


@pytest.mark.slow
def test_the_demo_ends_with_the_site_serving_its_data_until_ctrl_c(tmp_path):
    """The whole demo, small and fast, as `make demo` runs it (a week: one day collected,
    six generated); then its site over HTTP.
    At 16000x the simulated day takes ~5 s of collecting (ticks that overrun skip slots, as
    the demo reports) instead of 22 s at 4000x."""
    import re
    import signal
    import subprocess
    import sys
    import time

    import requests

    from tests.web_support import cli_env, login

    proc = subprocess.Popen(
        [sys.executable, "-m", "tpdask", "--data_dir", str(tmp_path / "demo"), "demo",
         "--scale", "0.002", "--speed", "16000", "--workers", "1", "--port", "0"],
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 600
        while not any(line.startswith("demo visitor account") for line in lines):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(lines[-40:])
            assert time.monotonic() < deadline, "".join(lines[-40:])
            lines.append(line)
        address = next(re.search(r"serving (http://\S+?)/? ", line).group(1)
                       for line in lines if line.startswith("tpdask web: serving"))
        password = re.search(r"password (\S+)", lines[-1]).group(1)
        out = "".join(lines)
        assert [n for n in range(1, 8) if f" {n}/7 " in out] == list(range(1, 8)), out
        erased = re.search(r"^erased (\S+) in ", out, re.M).group(1)
        assert "  afterwards: 0 lake rows or store records name it" in out
        assert re.search(r"Research export .*: [\d,]+ sessions of [\d,]+ users", out)
        assert "`tpdask status` of the demo folder: failing" in out
        assert "failing  collector stopped" in out
        assert "(0 unlike the simulator's truth)" in out       # verify is right throughout
        assert requests.get(address + "/", allow_redirects=False).status_code == 303
        session = login(address, "visitor", password)
        page = session.get(address + "/")
        assert page.status_code == 200 and "viewers tracked" in page.text
        top = session.get(address + "/api/streamers").json()["streamers"][0]["streamer"]
        assert session.get(address + f"/streamers/{top}").status_code == 200
        assert session.get(address + "/viewers/random").status_code == 200
        # a week: the collected day and six generated ones, analysed together
        assert session.get(address + "/api/dashboard").json()["days_analysed"] == 7
        week = session.get(address + "/api/rankings", params={"days": "7"}).json()
        assert week["since"] == "2022-08-01" and week["until"] == "2022-08-07"
        assert sum(r["hours_watched_change"] is not None for r in session.get(
            address + "/api/rankings", params={"since": "2022-08-07",
                                               "until": "2022-08-07"}).json()["rows"]) > 0
        assert erased not in session.get(address + "/").text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
