"""`tpdask verify`, `tpdask export status` and `tpdask status`, run as a user runs them (in
this process), against the Twitch simulator over real sockets."""

from __future__ import annotations

import orjson

from tests.support import ACCOUNTS_DAY as DAY
from tests.support import make_config, tpdask, viewers
from tpdask.bench.verify import seed_day
from tpdask.simulator.accounts import expected_status


def test_verify_then_export_status_and_status(tmp_path, accounts_sim):
    sim = accounts_sim
    config = make_config(tmp_path)
    logins = viewers(sim, 230, skip=1500)
    seed_day(config, DAY, [(x, sim.world.accounts.id_of(x)) for x in logins])
    data = ["--data_dir", str(config.data_dir), "--helix_url", sim.urls["helix_url"],
            "--auth_url", sim.urls["auth_url"]]
    secrets = {"TPDASK_CLIENT_ID": sim.client_id, "TPDASK_CLIENT_SECRET": sim.client_secret}
    out = tpdask(*data, "verify", "--limit", "150", env=secrets).stdout
    assert "verified 150 accounts" in out and "unchecked 80" in out
    rows = [orjson.loads(line) for line in tpdask(*data, "export", "status").stdout.splitlines()]
    assert len(rows) == 150 and [r["viewer"] for r in rows] == sorted(r["viewer"] for r in rows)
    for row in rows:
        assert set(row) == {"viewer", "user_id", "status", "login_now", "checked_at"}
        assert (row["status"], row["login_now"]) == expected_status(sim.world.accounts,
                                                                    row["viewer"])
    status = tpdask(*data, "status").stdout
    assert "unchecked 80" in status and "verify" in status


def test_verify_without_credentials_says_what_to_set(tmp_path):
    config = make_config(tmp_path)
    seed_day(config, DAY, [("someone", "1")])
    result = tpdask("--data_dir", str(config.data_dir), "verify",
                    env={"TPDASK_CLIENT_ID": "", "TPDASK_CLIENT_SECRET": ""}, check=False)
    assert result.returncode == 1 and "TPDASK_CLIENT_ID" in result.stderr
    assert "Traceback" not in result.stderr
