"""Fixtures for the listener tests (helpers live in listener_helpers.py)."""
import os
import signal

import pytest

from listener_helpers import ListenerProcess
from panos_helpers import start_firewall, start_prism
from netevents_listener.config import load_config
from netevents_listener.service import Service


@pytest.fixture
def listener_process():
    """Factory for ListenerProcess; every process started is stopped at the end of the test."""
    started = []

    def factory(config_path, env=None):
        proc = ListenerProcess(config_path, env=env)
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            try:
                os.killpg(proc.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.proc.wait(timeout=30)


# The Prism and PAN-OS simulators the panos plugin tests run against (one of each per test).

@pytest.fixture
def prism():
    sim = start_prism()
    yield sim
    sim.stop()


@pytest.fixture
def firewall():
    sim = start_firewall()
    yield sim
    sim.stop()


@pytest.fixture
def services():
    """Factory for in-process listeners (Service) from a config file; each is stopped at the end of the test."""
    started = []

    def start(config_path):
        svc = Service(load_config(config_path)).start()
        started.append(svc)
        return svc
    yield start
    for svc in started:
        svc.stop(timeout=10)
