"""A stateful PAN-OS XML API simulator: a PA-VM firewall (10.2) with a real configuration tree, commits as jobs,
User-ID registered-IP tags and dynamic address groups — or, with ``model="Panorama"``, a Panorama with device
groups (objects, pre- and post-rulebases, commits to Panorama).

It answers like the XML API of a firewall so that pan-os-python, pan.xapi and the collection are tested against
the behaviour they meet in the field: key generation (403 on bad credentials), candidate (``get``) and running
(``show``) configuration selected with real XPath (lxml), ``set`` merging and ``edit`` replacing, PAN-OS result
codes and messages (7 "Object doesn't exist" / "No such node", 10 references, 12 invalid object, 13 commit in
progress, 14 operation not possible), commits through jobs (ACT then FIN) with validation of the candidate,
"There are no changes to commit.", registered-IP tags with timeouts and paging, dynamic address groups evaluated
over the running configuration. Fault knobs refuse TCP connections or answer HTTP errors for a while.

In-process::

    sim = PanosSimulator(username="admin", password="admin", port=0, commit_seconds=0.2).start()
    ...; sim.stop()

Standalone: ``python -m tests.simulators.panos --port 8443 --username admin --password admin``.
See docs/simulators.md ("PAN-OS XML API simulator"). One module per part of the API: ``xmlapi`` (envelope),
``schema`` and ``xpath`` (the tree), ``config`` (type=config), ``commits`` (jobs and validation), ``ops``
(type=op), ``userid`` (type=user-id), ``filters`` (dynamic address groups), ``faults``; ``simulator`` holds the
state and the front door (Flask routes, authentication, dispatch).
"""
from tests.simulators.panos.filters import FilterError, parse_filter
from tests.simulators.panos.simulator import PanosSimulator
from tests.simulators.panos.validation import validate_config
from tests.simulators.panos.xmlapi import ApiError

__all__ = ["ApiError", "FilterError", "PanosSimulator", "parse_filter", "validate_config"]
