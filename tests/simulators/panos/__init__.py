"""A stateful PAN-OS XML API simulator: a firewall (10.2; a VM-300 unless ``model=`` names another platform)
with a real configuration tree, commits as jobs, User-ID registered-IP tags and dynamic address groups — or, with
``model="Panorama"``, a Panorama with device groups (objects, pre- and post-rulebases, commits to Panorama).
The platform's limits always apply (registered-IP capacity, 32 tags per IP, the commit queue); a latency model
(one management plane at the platform's measured speed) is off unless ``latency=True``.

It answers like the XML API of a firewall so that pan-os-python, pan.xapi and the collection are tested against
the behaviour they meet in the field: key generation (403 on bad credentials), candidate (``get``) and running
(``show``) configuration selected with real XPath (lxml), ``set`` merging and ``edit`` replacing, PAN-OS result
codes and messages (7 "Object doesn't exist" / "No such node", 10 references, 12 invalid object, 13 commit queue
full, 14 operation not possible), commits through queued jobs (PEND, ACT, FIN) with validation of the candidate,
"There are no changes to commit.", change marks (admin/dirtyId/time) on changed candidate nodes, registered-IP
tags (hosts, IPv4 ranges and networks) with timeouts and paging, dynamic address groups evaluated over the
running configuration. Fault knobs refuse TCP connections or answer HTTP errors for a while.

In-process::

    sim = PanosSimulator(username="admin", password="admin", port=0, commit_seconds=0.2).start()
    bench = PanosSimulator(model="VM-50", latency=True)    # the VM-50's registered-IP capacity and speed
    ...; sim.stop()

Standalone: ``python -m tests.simulators.panos --port 8443 --model VM-50 --latency`` (``--help`` lists the knobs).
See docs/simulators.md ("PAN-OS XML API simulator"). One module per part of the API: ``xmlapi`` (envelope),
``schema`` and ``xpath`` (the tree), ``config`` (type=config), ``dirty`` (change marks), ``commits`` (jobs, the
queue, validation), ``ops`` (type=op), ``userid`` and ``registered`` (type=user-id), ``filters`` (dynamic address
groups), ``faults``; ``platforms`` (models, limits, latency presets) and ``mgmt_plane`` (the latency model);
``simulator`` holds the state and the front door (Flask routes, authentication, dispatch).
"""
from tests.simulators.panos.filters import FilterError, parse_filter
from tests.simulators.panos.platforms import PLATFORMS, Latency, platform
from tests.simulators.panos.simulator import PanosSimulator
from tests.simulators.panos.validation import validate_config
from tests.simulators.panos.xmlapi import ApiError

__all__ = ["ApiError", "FilterError", "Latency", "PLATFORMS", "PanosSimulator", "parse_filter", "platform",
           "validate_config"]
