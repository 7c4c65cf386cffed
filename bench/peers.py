"""2. Event to enforcement against a realistic firewall: the floor, and three peers on the same events.

The PAN-OS simulator runs as a VM-50 with its latency model on (``PanosSimulator(model="VM-50", latency=True)``:
one management plane serving calls one at a time, ``per_call_seconds`` each plus the User-ID entries at the
VM-50's measured registrations per second, commit jobs of ``commit_seconds``). The Prism simulator holds the VMs
(powered on, one IP each, ``AppTier: Web``) and a webhook to the peer; the bench makes Prism send ``VM.ON`` for
each VM at a fixed rate (``emit_vm_event``) or all at once (a burst), and records when each event was emitted.
Prism's one sender thread POSTs them in order, so a peer that holds the POST makes the events wait in Prism's
outbox: latency counts from the emission (when the VM changed), not from the POST. A poller reads the firewall
records when each IP is first enforced: for registered IPs, the moment the registration takes effect (a hook on the
PAN-OS simulator's User-ID handler); for address objects, a poller of the running configuration (every 50 ms).

Peers:
- ``listener``: the netevents listener (gunicorn, ``panos`` plugin, registered-ip mode, the queue settings the
  role deploys); also with ``trust_payload: true`` (no Prism lookup), for what the lookups cost.
- ``eda``: ansible-rulebook with the collection's event source and rulebook (``nutanix_to_panos``, running
  ``panos_registered_ip`` per event), bench/eda_peer.py.
- ``2017``: the 2017 design, one change and one commit per event, re-implemented in bench/design2017.py.

The floor (``floor_latencies``): what the firewall model itself imposes on the same emission times for a client
that adds no time of its own and sends, whenever the management plane is free, one User-ID call with every event
that has arrived (the least calls any client can make without holding events back).
"""
import bisect
import functools
import ipaddress
import os
import threading
import time

from lxml import etree

from common import summary_ms
from panos_helpers import start_firewall, start_prism
from tests.simulators.panos.platforms import platform

MODEL = "VM-50"


def floor_latencies(arrivals, latency):
    """Per event, in arrival order: the earliest enforcement the firewall model allows minus the arrival.

    *arrivals*: seconds (any origin). *latency*: a platforms.Latency. Greedy over one FIFO management plane: when
    it is free, one call carries every event that arrived, and costs per_call_seconds + n / registrations_per_second.
    """
    times = sorted(arrivals)
    per_call, rate = latency.per_call_seconds, latency.registrations_per_second
    out, i, free_at = [], 0, float("-inf")
    while i < len(times):
        start = max(free_at, times[i])
        j = bisect.bisect_right(times, start, i)
        free_at = start + per_call + (j - i) / rate
        out.extend(free_at - t for t in times[i:j])
        i = j
    return out


def firewall_model(model=MODEL):
    """What the bench's firewall is: the platform's latency preset (the source of the floor)."""
    p = platform(model)
    return {"model": p.name, "per_call_seconds": p.latency.per_call_seconds,
            "registrations_per_second": p.latency.registrations_per_second,
            "unregistrations_per_second": p.latency.unregistrations_per_second,
            "commit_seconds": p.latency.commit_seconds, "registered_ip_capacity": p.registered_ip_capacity}


def start_simulators(capacity, commit_seconds=None, model=MODEL):
    prism = start_prism(pending_seconds=0)
    firewall = start_firewall(model=model, latency=True, registered_ip_capacity=capacity,
                              commit_seconds=commit_seconds)
    return prism, firewall


def address_ips(firewall, prefix="ntnx-vm-"):
    """IPs of the address objects (named *prefix* + IP) in the running configuration: enforced once committed."""
    root = etree.fromstring(firewall.running_config().encode())
    return set(e.findtext("ip-netmask").split("/")[0] for e in root.iter("entry")
               if e.get("name", "").startswith(prefix) and e.findtext("ip-netmask"))


def registered(firewall):
    return set(firewall.registered_ips())


class IpRanges(object):
    """Distinct addresses per run (10.128.0.0/9, then on), so no run sees another's VMs."""

    def __init__(self, start="10.128.0.1"):
        self._next = ipaddress.ip_address(start)
        self._lock = threading.Lock()

    def take(self, count):
        with self._lock:
            first = self._next
            self._next = first + count + 256
            return str(first)


def watch_registrations(firewall, wanted):
    """Record the moment each IP of *wanted* is registered on *firewall*. Returns (seen {ip: epoch seconds}, an
    Event set once all are, unwatch()).

    Exact and free of polling: a hook inside the simulator's User-ID handler (under its lock, after the management
    plane's delay). A poller copying a table of 10,000 entries every few ms would hold the simulator's lock and
    the GIL, and slow down both simulators."""
    seen, done, pending = {}, threading.Event(), set(wanted)
    original = firewall._user_id  # pylint: disable=protected-access

    def watched(params):
        root = original(params)
        now = time.time()
        table = firewall._registered  # pylint: disable=protected-access
        for ip in [ip for ip in pending if ip in table]:
            seen[ip] = now
            pending.discard(ip)
        if not pending:
            done.set()
        return root

    def unwatch():
        del firewall._user_id  # pylint: disable=protected-access
    firewall._user_id = watched  # pylint: disable=protected-access
    return seen, done, unwatch


def drive(prism, firewall, count, rate, enforced=registered, poll_s=0.002, settle_timeout=600.0, first_ip=None,
          deliveries_from=0):
    """Seed *count* VMs in Prism, emit VM.ON for each at *rate* per second (None: all at once, a burst) and wait
    until every IP is enforced or *settle_timeout* seconds after the last emission. Returns the run's figures."""
    uuids = prism.seed_vms(count, name_prefix="bench", categories={"AppTier": "Web"}, first_ip=first_ip)
    base = ipaddress.ip_address(first_ip)
    ip_of = dict((u, str(base + i)) for i, u in enumerate(uuids))
    wanted = set(ip_of.values())
    prism_before = sum(prism.stats()["calls"].values())
    firewall.reset()      # empty and zero counters, the same API key: a new run on the same firewall
    emitted = {}
    if enforced is registered:
        seen, done, unwatch = watch_registrations(firewall, wanted)
        poller = None
    else:
        seen, done, unwatch = {}, threading.Event(), None

        def poll():
            while not done.is_set():
                now = time.time()
                for ip in enforced(firewall) & wanted:
                    seen.setdefault(ip, now)
                if len(seen) == len(wanted):
                    done.set()
                    return
                time.sleep(poll_s)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
    started = time.time()
    for i, uuid in enumerate(uuids):
        if rate:
            delay = started + i / float(rate) - time.time()
            if delay > 0:
                time.sleep(delay)
        emitted[uuid] = time.time()
        prism.emit_vm_event(uuid, "VM.ON")
    emit_s = time.time() - started
    done.wait(settle_timeout)
    done.set()
    if poller is not None:
        poller.join(10)
    else:
        unwatch()
    latencies = [seen[ip_of[u]] - emitted[u] for u in uuids if ip_of[u] in seen]
    floor = floor_latencies(list(emitted.values()), firewall.latency)
    mine = set(uuids)
    deliveries = [d for d in prism.deliveries[deliveries_from:] if d["vm_uuid"] in mine and d["event_type"] == "VM.ON"]
    sent = [d["sent"] for d in deliveries]
    stats = firewall.stats()
    user_id = stats["calls"].get("user-id", 0)
    api_calls = sum(stats["calls"].values())
    result = {"events": count, "offered_rate": rate, "enforced": len(seen), "missing": len(wanted) - len(seen),
              "acked": sum(1 for d in deliveries if d["status_code"] == 200),
              "failed_deliveries": sum(1 for d in deliveries if d["status_code"] != 200),
              "emit_s": round(emit_s, 3),
              "delivered_rate": round(len(sent) / (max(sent) - min(sent)), 1) if len(sent) > 1 and max(sent) > min(
                  sent) else None,
              "wall_s": round((max(seen.values()) if seen else time.time()) - started, 3),
              "calls": stats["calls"], "user_id_calls": user_id, "api_calls": api_calls, "commits": stats["commits"],
              "commits_failed": stats["commits_failed"], "registered_ips": stats["registered_ips"],
              "plane": stats["management_plane"],
              "prism_calls": sum(prism.stats()["calls"].values()) - prism_before,
              "per_1000": {"user_id_calls": round(user_id * 1000.0 / count, 1),
                           "api_calls": round(api_calls * 1000.0 / count, 1),
                           "commits": round(stats["commits"] * 1000.0 / count, 1)}}
    result.update(summary_ms(latencies))
    f = summary_ms(floor)
    result["floor"] = {"p50_ms": f["p50_ms"], "p99_ms": f["p99_ms"], "max_ms": f["max_ms"]}
    result["vs_floor"] = dict((k, round(result[k] / f[k], 2) if result[k] is not None and f[k] else None)
                              for k in ("p50_ms", "p99_ms"))
    return result


def workloads(rates, seconds, max_events, burst):
    """(label, count, rate): each rate for *seconds* (at most *max_events*), then a burst of *burst* VMs."""
    out = [("%d ev/s" % r, max(1, min(max_events, int(r * seconds))), r) for r in rates]
    if burst:
        out.append(("burst of %d" % burst, burst, None))
    return out


class ListenerPeer(object):
    """The netevents listener as deployed: gunicorn, the panos plugin in registered-ip mode, the role's queue
    defaults; the periodic reconcile off (its full Prism list and firewall read would be counted as the events')."""
    name = "listener"
    enforced = staticmethod(registered)
    poll_s = 0.002

    def __init__(self, options=None, label=None, prism=None):
        self.options = dict({"mode": "registered-ip"}, **(options or {}))
        self.label = label or self.name
        self.prism = dict({"source": "webhook"}, **(prism or {}))  # the config's prism section (source, interval)
        self.server = None

    def start(self, workdir, prism, firewall):
        from common import Server, listener_argv  # pylint: disable=import-outside-toplevel
        from enforce import deployed_queue  # pylint: disable=import-outside-toplevel
        from panos_helpers import panos_config, prism_client, subscribe, target  # pylint: disable=C0415
        os.makedirs(workdir, exist_ok=True)
        config = panos_config(workdir, prism, [target(firewall)], options=self.options, queue=deployed_queue(),
                              prism_extra=self.prism)
        self.server = Server(listener_argv(config), config).start()
        if self.prism["source"] != "poll":
            subscribe(prism_client(prism), self.server.url, events=["VM.ON"])
        return self

    def stop(self):
        if self.server is not None:
            self.server.stop()


def run_peer(peer, workdir, plan, capacity, commit_seconds=None, log=print):
    """Every workload of *plan* on one peer, one after another, against one Prism and one firewall (emptied
    between runs). Returns the runs."""
    prism, firewall = start_simulators(capacity, commit_seconds)
    ranges, out = IpRanges(), []
    try:
        peer.start(workdir, prism, firewall)
        if getattr(peer, "warm_up", True):
            # One event first, not counted: the peer's first connection to the firewall (keygen, system info) is a
            # start-up cost, not what each event costs.
            drive(prism, firewall, 1, None, enforced=peer.enforced, poll_s=peer.poll_s, first_ip=ranges.take(1),
                  settle_timeout=getattr(peer, "settle_timeout", 600.0))
        for label, count, rate in plan:
            prism.wait_idle(timeout=600)
            r = drive(prism, firewall, count, rate, enforced=peer.enforced, poll_s=peer.poll_s,
                      first_ip=ranges.take(count), settle_timeout=getattr(peer, "settle_timeout", 600.0))
            r.update(peer=peer.label, workload=label)
            out.append(r)
            figures = (peer.label, label, count, r["p50_ms"], r["p99_ms"], r["floor"]["p99_ms"], r["vs_floor"]["p99_ms"],
                       r["user_id_calls"], r["commits"], r["enforced"], count, r["prism_calls"])
            log("  %-22s %-16s %5d ev: p50 %s p99 %s ms (floor p99 %s, x%s), User-ID %d, commits %d, %d/%d "
                "enforced, Prism calls %d" % figures)
    finally:
        peer.stop()
        prism.stop()
        firewall.stop()
    return out


class Design2017Peer(object):
    """The 2017 design (bench/design2017.py): a change and a forced commit per event, inside the webhook request.
    Enforced when the address object is in the running configuration (committed)."""
    name = label = "2017"
    enforced = staticmethod(address_ips)
    poll_s = 0.05
    warm_up = False   # it connects (keygen) for every event anyway; a warm-up would wait for a whole commit

    def __init__(self, settle_timeout=900.0):
        self.settle_timeout = settle_timeout
        self.server = None

    def start(self, workdir, prism, firewall):
        import sys  # pylint: disable=import-outside-toplevel
        import yaml  # pylint: disable=import-outside-toplevel
        from common import BENCH, WEBHOOK_PASSWORD, WEBHOOK_USER, Server, listener_env  # pylint: disable=C0415
        from listener_helpers import free_port  # pylint: disable=import-outside-toplevel
        from panos_helpers import FW_PASSWORD, FW_USER, prism_client, subscribe  # pylint: disable=C0415
        os.makedirs(workdir, exist_ok=True)
        port, path = free_port(), "/listener/callback"
        config = os.path.join(workdir, "design2017.yml")  # where Server finds the port and path
        with open(config, "w") as f:
            yaml.safe_dump({"listener": {"port": port, "path": path}}, f)
        argv = [sys.executable, os.path.join(BENCH, "design2017.py"), "--port", str(port), "--path", path,
                "--firewall", "%s:%d" % (firewall.host, firewall.port), "--ca-path", firewall.cert_path,
                "--user", FW_USER, "--webhook-user", WEBHOOK_USER]
        env = dict(listener_env(), BENCH_FW_PASSWORD=FW_PASSWORD, BENCH_WEBHOOK_PASSWORD=WEBHOOK_PASSWORD)
        self.server = Server(argv, config, env=env).start()
        subscribe(prism_client(prism), self.server.url, events=["VM.ON"])
        return self

    def stop(self):
        if self.server is not None:
            self.server.stop()


def all_at_once(calls):
    """The results of *calls* (functions of no argument), run each in a thread of its own, in their order; the
    first exception any of them raised is raised once all have ended."""
    results, errors = [None] * len(calls), []

    def one(i):
        try:
            results[i] = calls[i]()
        except Exception as e:  # pylint: disable=broad-except
            errors.append(e)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def run_parallel(make_peer, workdir, plan, capacity, commit_seconds=None, log=print):
    """Each workload of *plan* on its own peer, Prism and firewall, all at once (for a peer whose runs mostly wait
    on the firewall's commits, so that they share the machine's 2 cores with little else). Runs in plan order."""
    return all_at_once([functools.partial(_run_one, make_peer, os.path.join(workdir, "w%d" % i), item, capacity,
                                          commit_seconds, log) for i, item in enumerate(plan)])


def _run_one(make_peer, workdir, item, capacity, commit_seconds, log):
    return run_peer(make_peer(), workdir, [item], capacity, commit_seconds, log)[0]


def run(workdir, rates=(10, 100, 1000), seconds=20.0, max_events=1000, burst=10000, slow_max_events=20,
        commit_seconds=None, log=print):
    """The floor and the peers on the same workloads. The slow peers (EDA, 2017) get at most *slow_max_events*
    events per workload. *commit_seconds*: None keeps the VM-50's commit duration (the --quick run shortens it)."""
    import eda_peer  # pylint: disable=import-outside-toplevel
    plan = workloads(rates, seconds, max_events, burst)
    slow = [(label if rate else "burst of %d" % min(count, slow_max_events), min(count, slow_max_events), rate)
            for label, count, rate in plan]
    capacity = max([firewall_model()["registered_ip_capacity"]] + [count for _l, count, _r in plan])
    out = {"firewall": dict(firewall_model(), capacity_used=capacity,
                            commit_seconds_used=commit_seconds if commit_seconds is not None else
                            firewall_model()["commit_seconds"]),
           "plan": [list(p) for p in plan], "slow_plan": [list(p) for p in slow], "slow_max_events": slow_max_events,
           "runs": []}
    out["runs"] += run_peer(ListenerPeer(), os.path.join(workdir, "peer-listener"), plan, capacity, commit_seconds,
                            log)
    # The listener again on the slow peers' (smaller) workloads: the ratios to them compare the same events.
    out["small_label"] = "listener, %d events" % slow_max_events
    out["runs"] += run_peer(ListenerPeer(label=out["small_label"]), os.path.join(workdir, "peer-listener-small"), slow,
                            capacity, commit_seconds, log)
    trusting = ListenerPeer({"trust_payload": True}, label="listener, trust_payload")
    out["runs"] += run_peer(trusting, os.path.join(workdir, "peer-trust"), [p for p in plan if p[2]], capacity,
                            commit_seconds, log)
    why = eda_peer.missing()
    if why:
        out["eda_skipped"] = "; ".join(why)
        log("  eda: skipped (%s)" % out["eda_skipped"])
    else:
        out["runs"] += run_peer(eda_peer.EdaPeer(), os.path.join(workdir, "peer-eda"), slow, capacity,
                                commit_seconds, log)
    out["runs"] += run_parallel(Design2017Peer, os.path.join(workdir, "peer-2017"), slow, capacity, commit_seconds,
                                log)
    return out
