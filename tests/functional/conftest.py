"""Fixtures shared by the functional tests (simulators started in-process, one per test module)."""
import pytest


# --- PAN-OS simulator (panos_* modules) -------------------------------------------------------------------
# The password is deliberately unusual so tests can prove it never shows up in any output.
PANOS_USERNAME = "admin"
PANOS_PASSWORD = "Pan0s-S3cret-pw"


@pytest.fixture(scope="module")
def panos_sim():
    """A PAN-OS simulator over HTTPS with a self-signed certificate (sim.cert_path); commits take 0.2 s."""
    from tests.simulators.panos import PanosSimulator

    sim = PanosSimulator(username=PANOS_USERNAME, password=PANOS_PASSWORD, port=0, commit_seconds=0.2).start()
    yield sim
    sim.stop()


@pytest.fixture
def panos_provider(panos_sim):
    """The provider dict for the panos_* modules, verifying TLS against the simulator's certificate."""
    return {"ip_address": panos_sim.host, "port": panos_sim.port, "username": PANOS_USERNAME,
            "password": PANOS_PASSWORD, "ca_path": panos_sim.cert_path}
# --- end of PAN-OS simulator block ------------------------------------------------------------------------


# --- Prism simulator (nutanix_webhook* modules) -----------------------------------------------------------
# An unusual password too, so tests can prove it never shows up in any output.
PRISM_USERNAME = "admin"
PRISM_PASSWORD = "Pr1sm-S3cret-pw"


@pytest.fixture
def prism_sim():
    """A fresh Prism v3 simulator per test over HTTPS with a self-signed certificate (sim.cert_path);
    creates, updates and deletes stay PENDING for 0.2 s."""
    from tests.simulators.prism import PrismSimulator

    sim = PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, port=0, pending_seconds=0.2).start()
    yield sim
    sim.stop()
# --- end of Prism simulator block -------------------------------------------------------------------------
