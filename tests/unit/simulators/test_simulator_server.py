"""The server both simulators share (tests/simulators/_common.py): a client that connects and sends nothing -
the 2017 Go listener's connectivity check does that to Prism - must not stop anyone else from being served, and
its connection is closed after the idle timeout, as a real Prism or PAN-OS web server does."""
import socket
import time

import pytest
import requests

from tests.simulators.panos import PanosSimulator
from tests.simulators.prism import PrismSimulator


def _panos():
    return PanosSimulator(username="admin", password="admin", port=0, commit_seconds=0)


def _prism():
    return PrismSimulator(username="admin", password="secret", port=0, pending_seconds=0)


def _answer(sim):
    """One real API call each simulator answers (HTTP status)."""
    if isinstance(sim, PanosSimulator):
        resp = requests.post(sim.url + "/api/", data={"type": "keygen", "user": "admin", "password": "admin"},
                             verify=sim.cert_path, timeout=5)
    else:
        resp = requests.get(sim.url + "/api/nutanix/v3/users/me", auth=("admin", "secret"), verify=sim.cert_path,
                            timeout=5)
    return resp.status_code


@pytest.mark.parametrize("make", [_panos, _prism], ids=["panos", "prism"])
def test_a_silent_client_holds_no_one_up_and_is_closed_after_the_idle_timeout(make):
    sim = make()
    sim.idle_timeout = 1.5
    sim.start()
    silent = socket.create_connection((sim.host, sim.port))
    try:
        silent.settimeout(30)
        time.sleep(0.2)                                  # let the server accept it and start waiting on it
        assert [_answer(sim) for _call in range(3)] == [200, 200, 200]   # served while the silent client waits
        # The server gives up on it: the peer closes, so recv() sees end of stream, not our own 30 s timeout.
        assert silent.recv(1) == b""
    finally:
        silent.close()
        sim.stop()


def test_a_client_that_is_not_speaking_tls_is_dropped_quietly():
    sim = _panos().start()
    try:
        with socket.create_connection((sim.host, sim.port)) as plain:
            plain.settimeout(10)
            plain.sendall(b"GET /api/ HTTP/1.0\r\n\r\n")
            try:
                data = plain.recv(100)
            except ConnectionResetError:
                data = b""
            assert not data.startswith(b"HTTP/")        # no answer in clear text
        assert _answer(sim) == 200
    finally:
        sim.stop()
