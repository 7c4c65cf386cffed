"""A stateful Nutanix Prism simulator: the v3 API (webhooks, VMs, tasks, webhook event delivery) and the Prism
Central v4 API (VMs, categories, clusters; read from the same store).

It answers like Prism (AOS / Prism Central) so that clients, modules and the listener are tested against the
behaviour they meet in the field: 202 + PENDING, then COMPLETE; spec_version checks (409); v3 error bodies whose
kind is the entity's; the JSON 401 real Prism sends; a 400 INVALID_UUID for GET /vms/list; duplicate webhooks;
paged lists capped at 500; regex name filters; the event envelope POSTed to webhook subscribers, with the two
unprompted VM.UPDATEs a real cluster sends after VM.CREATE, and optionally the older (2017) payload shape or
AOS's empty ``nic_list`` at VM.ON. Options make it a v3-only Prism (``v4_versions=()``) or a Prism Central
whose v3 webhooks are gone (``v3_webhooks=False``).

In-process::

    sim = PrismSimulator(username="admin", password="secret", port=0, pending_seconds=0.3).start()
    ...; sim.stop()

Standalone and by hand: ``python -m tests.simulators.prism serve --port 9440``, then
``python -m tests.simulators.prism vm create web-01 --ip 10.0.0.5 --category AppTier=Web`` (``cli``, on
``admin.PrismAdmin``). See docs/simulators.md ("Prism simulator"). Modules: ``entities`` (fixed parts,
rendering, event shapes), ``validation`` (request bodies), ``listing`` (list calls), ``delivery`` (events),
``app`` (Flask routes, auth), ``v4`` (the v4 routes and their OData subset), ``simulator`` (state, operations,
test controls).
"""
from tests.simulators.prism.entities import API_VERSION, KNOWN_EVENTS, ApiError
from tests.simulators.prism.simulator import PrismSimulator

__all__ = ["API_VERSION", "KNOWN_EVENTS", "ApiError", "PrismSimulator"]
