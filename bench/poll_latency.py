"""Change -> enforcement with the poll source: ``prism.source: poll`` at ``poll_interval_s``, and ``both`` when Prism
loses webhook deliveries.

    .venv/bin/python bench/run.py --only poll_latency      # 20 changes per mode, the default interval (30 s)

For each mode, the listener as deployed (``python -m netevents_listener``, the ``panos`` plugin in registered-ip
mode, the role's queue settings: bench/peers.py ``ListenerPeer``) against its own Prism simulator and a VM-50
PAN-OS simulator with its latency model (``peers.start_simulators``). The VMs are seeded powered off (one IP each,
``AppTier: Web``); once the listener's first poll cycle has seen them, the bench powers them on one at a time, evenly
spread over *spread_intervals* poll intervals (so the changes fall at every phase of the poll cycle), in the
simulator's store as a completed update does, emitting ``VM.ON`` to the webhooks. Latency is from that change to
the moment the IP is registered on the firewall (``peers.watch_registrations``, a hook in the User-ID handler).

- ``poll``: no webhook; every change is found by a poll cycle.
- ``both``: a webhook subscribed to ``VM.ON`` and the poll; the Prism simulator drops every other change's delivery
  (``drop_if``), so those changes can only be recovered by the poll. Each change is reported by how it arrived:
  ``webhook`` (delivered, answered 200) or ``poll (webhook dropped)``.
"""
import functools
import os
import time

import requests

from common import summary_ms
from peers import ListenerPeer, all_at_once, firewall_model, start_simulators, watch_registrations


def power_on(prism, uuid):
    """Power a stored VM on as a completed update does: the new state, then VM.ON to the subscribed webhooks."""
    with prism._cond:  # pylint: disable=protected-access
        vm = prism.vms[uuid]
        vm["spec"]["resources"]["power_state"] = "ON"
        vm["status"]["resources"]["power_state"] = "ON"
        prism._emit("VM.ON", vm)  # pylint: disable=protected-access


def wait_first_cycle(server, timeout):
    """Until the listener's poll source reports a successful cycle (its /metrics), so the seeded VMs are known."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = requests.get(server.base + "/metrics", timeout=2).text
        except requests.RequestException:
            text = ""
        for line in text.splitlines():
            ok = line.startswith("netevents_listener_poll_cycles_total{") and 'result="ok"' in line
            if ok and float(line.rsplit(" ", 1)[1]) >= 1:
                return
        time.sleep(0.1)
    raise RuntimeError("the listener's first poll cycle did not succeed in %ss; see %s" % (timeout, server.log_path))


def run_mode(workdir, mode, changes, interval_s, spread_intervals, first_ip, log=print):
    """One mode: *changes* VMs powered on over *spread_intervals* x *interval_s* seconds. Returns its figures."""
    capacity = max(changes, firewall_model()["registered_ip_capacity"])
    prism, firewall = start_simulators(capacity)
    peer = ListenerPeer(label="listener, %s" % mode, prism={"source": mode, "poll_interval_s": interval_s})
    try:
        uuids = prism.seed_vms(changes, name_prefix="poll-%s" % mode, categories={"AppTier": "Web"},
                               power_state="OFF", first_ip=first_ip)
        ip_of = dict((u, vm_ip(prism, u)) for u in uuids)
        dropped = set(uuids[::2]) if mode == "both" else set()
        prism.drop_if = lambda d: d["vm_uuid"] in dropped
        peer.start(os.path.join(workdir, "poll-latency-" + mode), prism, firewall)
        wait_first_cycle(peer.server, timeout=interval_s * 2 + 60)
        seen, done, unwatch = watch_registrations(firewall, set(ip_of.values()))
        changed, step = {}, interval_s * float(spread_intervals) / changes
        started = time.time()
        for i, uuid in enumerate(uuids):
            delay = started + i * step - time.time()
            if delay > 0:
                time.sleep(delay)
            changed[uuid] = time.time()
            power_on(prism, uuid)
        done.wait(interval_s * 2 + 60)   # the last change: at most one interval, a cycle and the dispatch
        unwatch()
        delivered = dict((d["vm_uuid"], d) for d in prism.deliveries if d["event_type"] == "VM.ON")
    finally:
        peer.stop()
        prism.stop()
        firewall.stop()
    by_via, changes_via = {}, {}
    for uuid in uuids:
        d = delivered.get(uuid)
        via = ("poll" if d is None else "poll (webhook dropped)" if d["dropped"] else
               "webhook" if d["status_code"] == 200 else "poll (webhook failed)")
        changes_via[via] = changes_via.get(via, 0) + 1
        by_via.setdefault(via, [])
        if ip_of[uuid] in seen:
            by_via[via].append(seen[ip_of[uuid]] - changed[uuid])
    latencies = [seen[ip_of[u]] - changed[u] for u in uuids if ip_of[u] in seen]
    out = dict(summary_ms(latencies), mode=mode, interval_s=interval_s, changes=changes, enforced=len(latencies),
               missing=changes - len(latencies), dropped_deliveries=len(dropped),
               spread_s=round(interval_s * float(spread_intervals), 1),
               via=[dict(summary_ms(v), via=k, changes=changes_via[k]) for k, v in sorted(by_via.items())])
    log("  %-4s every %ss: %d/%d enforced, p50 %s p99 %s max %s ms; %s" % (
        mode, interval_s, out["enforced"], changes, out["p50_ms"], out["p99_ms"], out["max_ms"],
        ", ".join("%s: %d/%d, max %s ms" % (v["via"], v["n"], v["changes"], v["max_ms"]) for v in out["via"])))
    return out


def vm_ip(prism, uuid):
    return prism.vms[uuid]["spec"]["resources"]["nic_list"][0]["ip_endpoint_list"][0]["ip"]


def run(workdir, changes=20, interval_s=30, spread_intervals=2, log=print):
    """Both modes at once, each with its own simulators and listener (the time is the poll interval's, not CPU)."""
    modes = (("poll", "10.200.0.1"), ("both", "10.201.0.1"))
    return all_at_once([functools.partial(run_mode, workdir, mode, changes, interval_s, spread_intervals, first_ip,
                                          log) for mode, first_ip in modes])
