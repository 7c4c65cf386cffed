# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The panos plugin's metrics, served beside the listener's on /metrics."""
from prometheus_client import CollectorRegistry, Counter, Gauge

_PREFIX = "netevents_listener_panos_"


class PanosMetrics(object):
    def __init__(self, registry=None):
        registry = registry or CollectorRegistry()
        self.userid_calls = Counter(_PREFIX + "userid_calls", "User-ID API calls (each one carries a whole change set)",
                                    registry=registry)
        self.commits = Counter(_PREFIX + "commits", "Commits started (address-object mode)", registry=registry)
        self.prism_lookups = Counter(_PREFIX + "prism_lookups",
                                     "VMs read from Prism because the event did not say enough", registry=registry)
        self.target_errors = Counter(_PREFIX + "target_errors", "Failed attempts to apply a change set to a firewall",
                                     registry=registry)
        self.reconciles = Counter(_PREFIX + "reconciles", "Full reconciles, by result", ["result"], registry=registry)
        for result in ("ok", "failed"):
            self.reconciles.labels(result)
        self.last_reconcile = Gauge(_PREFIX + "last_reconcile_timestamp_seconds",
                                    "When the last successful reconcile finished (epoch)", registry=registry)
