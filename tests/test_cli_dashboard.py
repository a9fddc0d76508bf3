"""The dashboard of the local Dask cluster that `tpdask process` starts (issue 7, item 14):
it listens on the address it prints, loopback by default, and a taken port is no failure."""

from __future__ import annotations

import socket

import pytest

from tpdask.executor import dask_executor


def listening(executor) -> list[tuple[str, int]]:
    """(host, port) of every socket the cluster's dashboard server listens on."""
    server = executor.client.cluster.scheduler.http_server
    return [s.getsockname()[:2] for s in server._sockets.values()]


def test_the_dashboard_listens_on_loopback_only_by_default():
    lines = []
    with dask_executor(workers=1, log=lines.append) as executor:
        addresses = listening(executor)
    assert [host for host, _ in addresses] == ["127.0.0.1"]
    assert lines[0] == f"Dask dashboard: http://127.0.0.1:{addresses[0][1]}/status"


def test_the_dashboard_host_setting_opens_it_wider():
    with dask_executor(workers=1, log=lambda m: None, dashboard_host="0.0.0.0") as executor:
        assert [host for host, _ in listening(executor)] == ["0.0.0.0"]


def test_a_taken_dashboard_port_is_no_failure():
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 8787))
    except OSError:
        pass  # taken already, by someone else: the same case
    else:
        taken.listen()
    lines = []
    with pytest.warns(UserWarning, match="8787 is already in use"):
        with dask_executor(workers=1, log=lines.append) as executor:
            (host, port), = listening(executor)
    taken.close()
    assert host == "127.0.0.1" and port != 8787
    assert lines[0] == f"Dask dashboard: http://127.0.0.1:{port}/status"
