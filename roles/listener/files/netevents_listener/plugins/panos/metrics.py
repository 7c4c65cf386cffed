# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The panos plugin's metrics, served beside the listener's on /metrics."""
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_PREFIX = "netevents_listener_panos_"


class PanosMetrics(object):
    def __init__(self, registry=None):
        registry = registry or CollectorRegistry()
        self.userid_calls = Counter(_PREFIX + "userid_calls", "User-ID API calls (each one carries a whole change set)",
                                    registry=registry)
        self.commits = Counter(_PREFIX + "commits", "Commits started (address-object mode)", registry=registry)
        self.prism_lookups = Counter(_PREFIX + "prism_lookups", "VMs looked up in Prism for events",
                                     registry=registry)
        self.prism_lookup_seconds = Histogram(
            _PREFIX + "prism_lookup_seconds", "Time a batch spent reading its VMs from Prism (the latency lookups add)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry)
        self.prism_requests = Counter(_PREFIX + "prism_requests", "HTTP requests made to Prism, by purpose",
                                      ["purpose"], registry=registry)
        self.vms_unknown = Counter(_PREFIX + "vms_unknown", "Events about a VM Prism does not know (nothing registered)",
                                   registry=registry)
        self.ip_waits_expired = Counter(_PREFIX + "ip_waits_expired",
                                        "VMs still without an IP in Prism after wait_for_ip_s", registry=registry)
        self.target_errors = Counter(_PREFIX + "target_errors", "Firewall calls that found it unavailable (probes too)",
                                     registry=registry)
        self.refused_vms = Counter(_PREFIX + "refused_vms", "VM changes a firewall refused (their events fail)",
                                   registry=registry)
        self.registered_ips = Gauge(_PREFIX + "registered_ips",
                                    "Registered IPs a firewall holds by the plugin's count: its own, plus other "
                                    "systems' as the last reconcile read them", ["target"], registry=registry)
        self.registered_ip_capacity = Gauge(_PREFIX + "registered_ip_capacity",
                                            "Registered IPs the firewall's platform holds (0: unknown)", ["target"],
                                            registry=registry)
        self.full_refusals = Counter(_PREFIX + "registered_ips_refused_full",
                                     "Registered IPs a firewall refused because it holds its platform's maximum",
                                     ["target"], registry=registry)
        self.tags_skipped = Counter(_PREFIX + "tags_skipped",
                                    "Tags left out because an IP holds at most 32 (an address object 64)",
                                    registry=registry)
        self.breaker_open = Gauge(_PREFIX + "target_breaker_open",
                                  "1 while a firewall is unavailable: no calls but one probe after a backoff",
                                  ["target"], registry=registry)
        self.probes = Counter(_PREFIX + "target_probes", "Probes of an unavailable firewall, by result",
                              ["target", "result"], registry=registry)
        self.reconciles = Counter(_PREFIX + "reconciles", "Full reconciles, by result", ["result"], registry=registry)
        self.reconcile_vms_left_out = Counter(_PREFIX + "reconcile_vms_left_out",
                                              "VMs a reconcile left out (they could not be resolved or recorded)",
                                              registry=registry)
        for purpose in ("lookup", "reconcile"):
            self.prism_requests.labels(purpose)
        for result in ("ok", "failed"):
            self.reconciles.labels(result)
        self.last_reconcile = Gauge(_PREFIX + "last_reconcile_timestamp_seconds",
                                    "When the last successful reconcile finished (epoch)", registry=registry)
