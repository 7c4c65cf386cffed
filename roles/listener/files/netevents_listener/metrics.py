# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus metrics served on GET /metrics. Labels only take values from fixed sets (never request data)."""
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ansible_collections.netevents.nutanix.plugins.module_utils.addresses import REASONS as ADDRESS_REASONS
from ansible_collections.netevents.nutanix.plugins.module_utils.events import EVENT_TYPES

# Why a request was refused; the label of netevents_listener_events_refused_total.
REFUSAL_REASONS = ("unauthorized", "source_not_allowed", "body_too_large", "not_json", "incomplete_body",
                   "malformed_json", "invalid_text", "not_an_event", "method_not_allowed", "unstorable_event",
                   "queue_unavailable")


def event_label(event_type):
    """Known event types as themselves, anything else as "other" (bounded label values)."""
    return event_type if event_type in EVENT_TYPES else "other"


class Metrics(object):
    def __init__(self, registry=None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        p = "netevents_listener_"
        self.received = Counter(p + "events_received", "Events accepted and queued", ["event_type"], registry=r)
        self.refused = Counter(p + "events_refused", "Requests refused, by reason", ["reason"], registry=r)
        self.ignored = Counter(p + "events_ignored", "Events acknowledged but not queued (unknown type, duplicate)",
                               ["reason"], registry=r)
        self.addresses_dropped = Counter(
            p + "addresses_dropped", "Addresses left out of accepted events: not for a firewall (addresses.py)",
            ["reason"], registry=r)
        self.applied = Counter(p + "events_applied", "Events the plugin applied", ["event_type"], registry=r)
        self.failed = Counter(p + "events_failed", "Failed attempts to apply an event (each retry counts)",
                              ["event_type"], registry=r)
        self.dead_lettered = Counter(p + "events_dead_lettered", "Events moved to the dead letters", ["event_type"],
                                     registry=r)
        self.deferred = Counter(p + "events_deferred", "Events the plugin put off, not ready yet (no attempt counted)",
                                ["event_type"], registry=r)
        self.superseded = Counter(p + "events_superseded", "Deferred events dropped for a newer event of their VM",
                                  ["event_type"], registry=r)
        self.refunded = Counter(p + "attempts_refunded", "Attempts given back: a system every event needs was down",
                                registry=r)
        self.paused = Gauge(p + "dispatcher_paused", "1 while dispatching is paused (a system every event needs is "
                                                     "down)", registry=r)
        self.queue_depth = Gauge(p + "queue_depth", "Events waiting to be applied", registry=r)
        self.dead_letters = Gauge(p + "dead_letters", "Events in the dead-letter table", registry=r)
        self.dispatcher_up = Gauge(p + "dispatcher_up", "1 while the dispatcher thread runs", registry=r)
        self.apply_latency = Histogram(
            p + "apply_latency_seconds", "Time from receiving an event to the plugin applying it", registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
        self.batch_duration = Histogram(
            p + "batch_duration_seconds", "Time the plugin took for one batch", registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        # The poll source (poller.py), per Prism entry (label values: the configuration's entry names).
        self.poll_cycles = Counter(p + "poll_cycles", "Poll cycles, by Prism and result (ok, failed)",
                                   ["prism", "result"], registry=r)
        self.poll_failures = Counter(p + "poll_failures", "Poll cycles that failed (Prism or the queue)", ["prism"],
                                     registry=r)
        self.poll_events = Counter(p + "poll_events", "Changes the poll found and queued, by event type",
                                   ["prism", "event_type"], registry=r)
        self.poll_duration = Gauge(p + "poll_cycle_duration_seconds", "How long the last successful poll cycle took",
                                   ["prism"], registry=r)
        self.poll_last_success = Gauge(p + "poll_last_success_timestamp_seconds",
                                       "When the last poll cycle succeeded (epoch seconds)", ["prism"], registry=r)
        self.poll_vms = Gauge(p + "poll_vms", "VMs the last poll cycle found", ["prism"], registry=r)
        for reason in REFUSAL_REASONS:
            self.refused.labels(reason)
        for reason in ("unknown_type", "duplicate"):
            self.ignored.labels(reason)
        for reason in ADDRESS_REASONS:
            self.addresses_dropped.labels(reason)
