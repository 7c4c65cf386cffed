"""Small helpers the functional tests share: a free loopback port, waiting for a condition, skipping (or under CI,
failing) for a missing tool, and the role variables that connect a deployed listener to the simulators."""
import socket
import time

import pytest

from tests.tools import preflight
from tests.functional.conftest import PANOS_PASSWORD, PANOS_USERNAME, PRISM_PASSWORD, PRISM_USERNAME

# What Prism sends with each event to a listener the role deployed (unusual, so a test can look for it in output).
WEBHOOK_PASSWORD = "W3bhook-S3cret-pw"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    """Poll *predicate* until it returns something true, and return that; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.3)


def require(reasons):
    """Skip the calling test (or fixture) for *reasons*, what it lacks, e.g. ``preflight.missing("java")``; under
    CI=true, where nothing may be skipped quietly, fail instead."""
    if reasons:
        (pytest.fail if preflight.in_ci() else pytest.skip)("; ".join(reasons))


def listener_role_vars(prism_sim, panos_sim, **target):
    """connection_vars, with events applied quickly and no periodic reconcile, so whatever reaches the firewall
    came through the queue."""
    return dict(connection_vars(prism_sim, panos_sim, **target),
                listener_batch_window_ms=50, listener_reconcile_interval_minutes=0)


def connection_vars(prism_sim, panos_sim, **target):
    """The listener role's variables for the simulators: Prism verified against its own certificate (a file on the
    controller, which the role copies to the host), one firewall target (plus *target*), the webhook's secret."""
    return {
        "listener_webhook_password": WEBHOOK_PASSWORD,
        "listener_prism_host": prism_sim.host,
        "listener_prism_port": prism_sim.port,
        "listener_prism_username": PRISM_USERNAME,
        "listener_prism_password": PRISM_PASSWORD,
        "listener_prism_ca_path": prism_sim.cert_path,
        "listener_panos_targets": [dict({"ip_address": panos_sim.host, "port": panos_sim.port,
                                         "username": PANOS_USERNAME, "password": PANOS_PASSWORD}, **target)],
    }
