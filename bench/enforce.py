"""2. Event to enforcement and 3. Firewall cost.

The Prism simulator holds N seeded VMs (powered on, one IP each, AppTier: Web) and a webhook to the listener
(gunicorn, `panos` plugin, the queue settings the role deploys by default, read from roles/listener/defaults).
The bench
makes Prism send VM.ON for each VM at a fixed rate (``emit_vm_event``); Prism's sender POSTs them in order and
records when each POST started. A poller reads the PAN-OS simulator's registered-IP table (in process, every
2 ms) and records when each IP first appears; in address-object mode, the running configuration's address objects
(every 50 ms). Latency = first seen - POST started.
"""
import os
import threading
import time

import yaml
from lxml import etree

from common import REPO, Server, listener_argv, summary_ms
from panos_helpers import panos_config, prism_client, start_firewall, start_prism, subscribe, target


def deployed_queue():
    """The queue section deploy_listener.yml writes with the role's defaults (backoff: the listener's own)."""
    with open(os.path.join(REPO, "roles", "listener", "defaults", "main.yml")) as f:
        defaults = yaml.safe_load(f)
    return {"batch_window_ms": defaults["listener_batch_window_ms"],
            "batch_max_events": defaults["listener_batch_max_events"],
            "max_attempts": defaults["listener_max_attempts"], "backoff_initial_s": 1.0, "backoff_max_s": 300.0}


def _address_ips(firewall, prefix="ntnx-vm-"):
    root = etree.fromstring(firewall.running_config().encode())
    return set(e.findtext("ip-netmask").split("/")[0] for e in root.iter("entry")
               if e.get("name", "").startswith(prefix) and e.findtext("ip-netmask"))


def run_once(workdir, vms, rate, mode="registered-ip", batch_max=None, commit_seconds=0.2, first_ip="10.128.0.1",
             timeout=600, window_ms=None):
    """Send VM.ON for *vms* seeded VMs at *rate* per second; return latencies and the firewall's counters."""
    os.makedirs(workdir, exist_ok=True)
    prism = start_prism(pending_seconds=0)
    firewall = start_firewall(commit_seconds=commit_seconds)
    server = None
    try:
        queue = deployed_queue()
        if batch_max is not None:
            queue["batch_max_events"] = batch_max
        if window_ms is not None:
            queue["batch_window_ms"] = window_ms
        config = panos_config(workdir, prism, [target(firewall)], options={"mode": mode}, queue=queue)
        server = Server(listener_argv(config), config).start()
        subscribe(prism_client(prism), server.url, events=["VM.ON"])
        uuids = prism.seed_vms(vms, name_prefix="bench", categories={"AppTier": "Web"}, first_ip=first_ip)
        ip_of = dict(zip(uuids, _ips(first_ip, vms)))
        wanted = set(ip_of.values())
        prism.wait_idle(timeout=30)
        firewall.reset_stats()
        seen = {}
        done = threading.Event()

        def poll():
            interval = 0.002 if mode == "registered-ip" else 0.05
            while not done.is_set():
                now = time.time()
                present = set(firewall.registered_ips()) if mode == "registered-ip" else _address_ips(firewall)
                for ip in present & wanted:
                    seen.setdefault(ip, now)
                if len(seen) == len(wanted):
                    done.set()
                    return
                time.sleep(interval)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        started = time.time()
        for i, uuid in enumerate(uuids):
            delay = started + i / float(rate) - time.time()
            if delay > 0:
                time.sleep(delay)
            prism.emit_vm_event(uuid, "VM.ON")
        emitted = time.time() - started
        done.wait(timeout)
        done.set()
        poller.join(10)
        finished = max(seen.values()) if seen else time.time()
        deliveries = [d for d in prism.deliveries if d["event_type"] == "VM.ON"]
        sent = dict((d["vm_uuid"], d["sent"]) for d in deliveries)
        latencies = [seen[ip_of[u]] - sent[u] for u in uuids if u in sent and ip_of[u] in seen]
        stats = firewall.stats()
        send_span = (max(sent.values()) - min(sent.values())) if sent else 0.0
        result = {"vms": vms, "offered_rate": rate, "mode": mode, "batch_max_events": queue["batch_max_events"],
                  "batch_window_ms": queue["batch_window_ms"],
                  "commit_seconds": commit_seconds, "enforced": len(seen), "missing": len(wanted) - len(seen),
                  "acked": sum(1 for d in deliveries if d["status_code"] == 200),
                  "emit_s": round(emitted, 3),
                  "delivered_rate": round(len(sent) / send_span, 1) if send_span else None,
                  "wall_s": round(finished - started, 3),
                  "calls": stats["calls"], "config_actions": stats.get("config_actions", {}),
                  "commits": stats["commits"], "api_calls": sum(stats["calls"].values())}
        result.update(summary_ms(latencies))
        return result
    finally:
        if server is not None:
            server.stop()
        prism.stop()
        firewall.stop()


def _ips(first_ip, count):
    import ipaddress
    base = ipaddress.ip_address(first_ip)
    return [str(base + i) for i in range(count)]


def latency(workdir, rates=(10, 100, 1000), vms=1000, compare_window_ms=200, compare_vms=300, log=print):
    """At each rate: the deployed defaults over *vms* VMs, then with a batch window of *compare_window_ms* (the
    earlier default, see bench/findings.md) over *compare_vms* VMs, side by side."""
    out = []
    for rate in rates:
        for window, n in ((None, vms), (compare_window_ms, compare_vms)):
            if window is not None and not compare_vms:
                continue
            r = run_once(os.path.join(workdir, "enforce-%d-%s" % (rate, window)), n, rate, window_ms=window)
            log("  enforce %5d ev/s window %4d ms: p50 %s p99 %s max %s ms, delivered %s ev/s, %d/%d enforced" % (
                rate, r["batch_window_ms"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["delivered_rate"],
                r["enforced"], n))
            out.append(r)
    return out


def cost(workdir, events=1000, commit_seconds=2.0, compare_window_ms=200, log=print):
    """The firewall's work for a burst of *events* VM.ON (sent as fast as Prism's sender goes)."""
    cases = [("registered-ip", "registered-ip", None, None, events),
             ("registered-ip, window %d ms" % compare_window_ms, "registered-ip", None, compare_window_ms, events),
             ("address-object, batched", "address-object", None, None, events)]
    out = []
    for label, mode, batch, window, n in cases:
        r = run_once(os.path.join(workdir, "cost-%s-%s-%s" % (mode, batch, window)), n, 100000, mode=mode,
                     batch_max=batch, commit_seconds=commit_seconds, window_ms=window,
                     timeout=max(120, n * (commit_seconds + 2) * 1.5))
        r["label"] = label
        r["per_1000"] = {"api_calls": round(r["api_calls"] * 1000.0 / n, 1),
                         "commits": round(r["commits"] * 1000.0 / n, 1)}
        log("  cost %-36s %4d events: %5d API calls, %4d commits, %.1f s" % (
            label, n, r["api_calls"], r["commits"], r["wall_s"]))
        out.append(r)
    return out
