"""A stateful Nutanix Prism v3 API simulator: webhooks, VMs, tasks, and webhook event delivery.

It answers like Prism (AOS / Prism Central, intentful v3 API) so that clients, modules and the listener are
tested against the behaviour they meet in the field: 202 + PENDING, then COMPLETE; spec_version checks (409);
v3 error bodies; a non-JSON 401; duplicate webhooks; paged lists capped at 500; regex name filters; the event
envelope POSTed to webhook subscribers, including AOS's empty ``nic_list`` at VM.ON (optional).

In-process::

    sim = PrismSimulator(username="admin", password="secret", port=0, pending_seconds=0.3).start()
    ...; sim.stop()

Standalone and by hand: ``python -m tests.simulators.prism serve --port 9440``, then
``python -m tests.simulators.prism vm create web-01 --ip 10.0.0.5 --category AppTier=Web`` (``cli``, on
``admin.PrismAdmin``). See docs/simulators.md ("Prism v3 simulator"). Modules: ``entities`` (fixed parts,
rendering), ``validation`` (request bodies), ``listing`` (list calls), ``delivery`` (events), ``app`` (Flask
routes), ``simulator`` (state, operations, test controls).
"""
from tests.simulators.prism.entities import API_VERSION, KNOWN_EVENTS, ApiError
from tests.simulators.prism.simulator import PrismSimulator

__all__ = ["API_VERSION", "KNOWN_EVENTS", "ApiError", "PrismSimulator"]
