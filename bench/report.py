"""Write docs/performance.md and docs/performance.png from the results dict bench/run.py collected."""
import os

RUN = ".venv/bin/python bench/run.py"


def _f(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float):
        return ("%%.%df" % digits) % value
    return str(value)


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(r):
    m = r["machine"]
    shared = ""
    loads = r.get("loads") or {"all": [m["load_before"], m.get("load_after", 0)]}
    if max(max(pair) for pair in loads.values()) > 0.5 * m["nproc"]:
        shared = (" **The machine was shared:** other processes used its %d cores meanwhile (load average before "
                  "and after: %s), so absolute figures are pessimistic and noisier than on a quiet machine; the "
                  "sides of each comparison ran in the same run, under the same load."
                  % (m["nproc"], "; ".join("%s %.2f / %.2f" % (k, v[0], v[1]) for k, v in sorted(loads.items()))))
    dates = r.get("measured") or {}
    if len(set(dates.values())) > 1:
        shared += (" Not all in one run (`--only`): %s; the whole-run time and load averages are the last run's."
                   % "; ".join("%s measured %s" % (", ".join(sorted(k for k in dates if dates[k] == d)), d)
                               for d in sorted(set(dates.values()))))
    return ("Measured %s on %d cores (%s), %.1f GiB RAM, Python %s, Linux %s; scratch files (queue, state) on %s; "
            "load average %.2f before the run. The whole run took %.0f s%s.%s" % (
                r["date"], m["nproc"], m["cpu"], m["memory_gib"], m["python"], m["kernel"], m["workdir_fs"],
                m["load_before"], r["elapsed_s"], " (**--quick sizes: a smoke run, not figures to quote**)"
                if r.get("quick") else "", shared))


def _ingest(r):
    i = r["ingest"]
    eda = i.get("eda") or [{}] * len(i["listener"])
    rows = []
    for a, b, e, ratio in zip(i["listener"], i["bare"], eda, i["ratios"]):
        rows.append([a["concurrency"], a["acked"], a.get("queued", "–"), a["rate"], a["p50_ms"], a["p99_ms"],
                     _f(a.get("cpu_ms_per_event"), 3), b["rate"], b["p99_ms"], _f(b.get("cpu_ms_per_event"), 3),
                     e.get("rate"), e.get("p99_ms"), _f(e.get("cpu_ms_per_event"), 3),
                     _f(ratio["rate_ratio"], 2), _f(ratio.get("eda_rate_ratio"), 2),
                     a["errors"] + b["errors"] + e.get("errors", 0)])
    rounds = i.get("rounds", 1)
    return "\n".join([
        "## 1. Ingest", "",
        "**What:** webhook events acknowledged per second (the listener's `200` comes after the event is committed "
        "to the SQLite queue, WAL + `synchronous=FULL`) and the acknowledgement latency, at 1, 8 and 32 concurrent "
        "senders, beside two other receivers driven by the same load generator: the *bare endpoint* "
        "(`bench/bare_server.py`, bench only: the same gunicorn settings — one gthread worker, `threads: 8`, "
        "keep-alive — and a Flask route that reads the body and answers 200 without authenticating, parsing, "
        "persisting, logging or consuming anything), and the *EDA source's receiver* (`bench/eda_receiver.py`: "
        "the collection's ansible-rulebook event source, aiohttp, with the same screening and basic auth as the "
        "listener, logging at WARNING as ansible-rulebook without `-v`, its events put on an asyncio queue in "
        "memory that a consumer empties at once — acknowledged but not durable: an event it answered is lost "
        "if the process stops before a rule ran).", "",
        "**How:** the listener as deployed — `python -m netevents_listener`, basic auth on, JSON logs at INFO, the "
        "`log` plugin consuming the queue meanwhile, queue defaults. The load comes from a separate process "
        "(`bench/loadgen.py`: one thread and one keep-alive connection per sender, Prism-shaped VM.ON bodies of "
        "~560 bytes, a distinct VM each — also across rounds and points, so none is acknowledged as a duplicate "
        "without being queued: *queued* counts the answers `{\"status\": \"queued\"}`), over loopback. The three "
        "servers run at once; at each point the load generator drives them in turn, %d rounds of %d events "
        "each (interleaved, so a slow spell of this shared machine hits all alike); rates, latencies and "
        "CPU are the medians of the rounds. *CPU ms/event* is the server process's user + system time per "
        "acknowledged event (from `/proc`; for gunicorn, its worker). The load generator shares the 2 cores with "
        "it." % (rounds, i["count"]), "",
        _table(["senders", "acked", "queued", "listener ev/s", "p50 ms", "p99 ms", "CPU ms/event", "bare ev/s",
                "bare p99 ms", "bare CPU ms/ev", "EDA receiver ev/s", "EDA p99 ms", "EDA CPU ms/ev",
                "listener/bare", "listener/EDA", "errors"], rows), "",
        "Reproduce: `%s --only ingest`; one point by hand: `%s` (with the listener running and "
        "`BENCH_WEBHOOK_PASSWORD` set)." % (RUN, i["listener"][-1]["command"]), ""])


def _peer_rows(p):
    rows = []
    for x in p["runs"]:
        rows.append([x["workload"], x["peer"], x["events"], x["enforced"], x["p50_ms"], x["p99_ms"],
                     x["floor"]["p99_ms"], _f(x["vs_floor"]["p50_ms"], 2), _f(x["vs_floor"]["p99_ms"], 2),
                     x["per_1000"]["user_id_calls"], x["per_1000"]["api_calls"], x["per_1000"]["commits"],
                     x["delivered_rate"], x["wall_s"]])
    order = dict((w[0], n) for n, w in enumerate(p["plan"]))
    slow = dict((w[0], n) for n, w in enumerate(p["slow_plan"]))
    peers = ["listener", "listener, trust_payload", p.get("small_label"), "eda", "2017"]
    rows.sort(key=lambda row: (order.get(row[0], slow.get(row[0], 99)), peers.index(row[1])
                               if row[1] in peers else 9))
    return rows


def _peers(r):
    p = r["peers"]
    fw = p["firewall"]
    skipped = ("\n\n**The EDA route was not run:** %s." % p["eda_skipped"]) if p.get("eda_skipped") else ""
    return "\n".join([
        "## 2. Event to enforcement", "",
        "*Against a realistic firewall: the floor and the peers.*", "",
        "**What:** from the moment Prism emits `VM.ON` (the VM changed) until the VM's IP is enforced on the "
        "firewall, at 10, 100 and 1,000 events/s and for a burst of VMs all emitted at once — for three peers on "
        "the same events and the same firewall model, and the *floor* that firewall model imposes by itself.", "",
        "**The firewall:** the PAN-OS simulator as a **%s** with its latency model on "
        "(`PanosSimulator(model=\"%s\", latency=True)`): one management plane serving API calls one at a time, "
        "**%g s per call** plus **%g registrations/s** (the rate measured on a VM-50), commits of **%g s**%s. "
        "A VM-50 holds %d registered IPs; the bench raises the capacity to %d so that the burst fits "
        "(the firewall is emptied between runs)." % (
            fw["model"], fw["model"], fw["per_call_seconds"], fw["registrations_per_second"],
            fw["commit_seconds_used"], "" if fw["commit_seconds_used"] == fw["commit_seconds"] else
            " (**shortened** from the model's %g s for this --quick run)" % fw["commit_seconds"],
            fw["registered_ip_capacity"], fw["capacity_used"]), "",
        "**The floor** (`bench/peers.py`, `floor_latencies`) is computed from that model on each run's own "
        "emission times: a client that adds no time of its own and, whenever the management plane is free, sends "
        "one User-ID call with every event that has arrived (cost: %g s + n / %g s): the simplest schedule that "
        "keeps the firewall busy, and what that firewall gives it. It is a reference, not a strict lower bound: "
        "in a burst, splitting the waiting events into smaller calls enforces the first ones sooner (the "
        "listener's batches of 500 give a burst's p50 below the floor's), and gathering events that arrive "
        "close together can help some of them. *p50/p99 ÷ floor* "
        "divides each peer's figure by the floor's for the same run." % (
            fw["per_call_seconds"], fw["registrations_per_second"]), "",
        "**The peers:**", "",
        "* **listener** — the netevents listener with its defaults (gunicorn, the `panos` plugin in `registered-ip` "
        "mode, Prism as the truth: it reads each batch's VMs from Prism before applying; the queue settings the "
        "role deploys, read from `roles/listener/defaults/main.yml`). Its periodic reconcile is off during the "
        "runs (its full Prism list and firewall read would be counted as the events'). One event goes through "
        "first, not counted: the plugin's first connection (keygen, `show system info`) is a start-up cost.",
        "* **listener, trust_payload** — the same with `trust_payload: true`: no Prism lookup (section 3).",
        "* **eda** — the Event-Driven Ansible route: the real `ansible-rulebook` with the collection's event source "
        "and rulebook (`netevents.nutanix.nutanix_to_panos`: `panos_registered_ip` per event, "
        "`execution_strategy: sequential`), the module connecting with user and password as the rulebook's "
        "`panos_provider` does.",
        "* **2017** — the 2017 design, re-implemented in `bench/design2017.py` with pan-os-python: per event, inside "
        "the webhook request, a keygen, `show system info`, get and set of the tag, the address object and the "
        "address group, then `<commit><force/></commit>` without waiting; enforced once the address object is in "
        "the *running* configuration (committed). Its commits queue on the firewall (up to 10, then refused — "
        "and the 2017 design answers 200 all the same).", "",
        "**Scaled down, and why:** the listener runs each rate for %g s (at most %d events) and a burst of %d VMs. "
        "The EDA route and the 2017 design handle about one event per second or less on this firewall (a module "
        "run, or ten API calls and a commit, per event), so they get **at most %d events per workload** (their "
        "burst is %d VMs): their latencies keep growing with every further event, so their figures here are a "
        "*lower bound* of what the listener's event counts would give them, and the ratios to them are "
        "conservative; the listener runs those same smaller workloads too (*listener, %d events*), and the "
        "ratios in *Goals* compare those. *commits / 1,000 ev* counts the commit jobs the firewall accepted: the "
        "2017 design asks for one per event, and a firewall whose commit queue is full (10 waiting) refuses the "
        "rest, which the 2017 design answers 200 all the same. The 2017 design's four workloads run at once, each "
        "on its own simulators (they spend their time waiting for commits). Prism's sender POSTs one event at a "
        "time, so a peer that holds the POST makes the later events wait in Prism's outbox — counted here, as "
        "latency starts at the emission. *delivered ev/s* is the rate Prism's sender achieved. A registered IP "
        "counts as enforced at the moment its registration takes effect in the simulator (a hook on its User-ID "
        "handler, after the management plane's delay); an address object when a poller (every 50 ms) finds it "
        "in the running configuration." % (
            p.get("seconds", 20), p.get("max_events", 1000), p.get("burst", 0), p["slow_max_events"],
            p["slow_max_events"], p["slow_max_events"]) + skipped, "",
        _table(["workload", "peer", "events", "enforced", "p50 ms", "p99 ms", "floor p99 ms", "p50 ÷ floor",
                "p99 ÷ floor", "User-ID calls / 1,000 ev", "API calls / 1,000 ev", "commits / 1,000 ev",
                "delivered ev/s", "wall s"], _peer_rows(p)), "",
        "Reproduce: `%s --only peers`." % RUN, "",
        "![latency against event rate, peers and floor](performance.png)", ""])


def _lookups(r):
    runs = r["peers"]["runs"]
    trusting = dict((x["workload"], x) for x in runs if x["peer"] == "listener, trust_payload")
    rows = []
    for x in runs:
        t = trusting.get(x["workload"])
        if x["peer"] != "listener" or t is None:
            continue
        rows.append([x["workload"], x["events"], _f(x["prism_calls"] / float(x["events"]), 3),
                     _f(t["prism_calls"] / float(t["events"]), 3), x["p50_ms"], t["p50_ms"],
                     _f(x["p50_ms"] - t["p50_ms"], 1), x["p99_ms"], t["p99_ms"], _f(x["p99_ms"] - t["p99_ms"], 1)])
    return "\n".join([
        "## 3. What the Prism lookups cost", "",
        "**What:** by default the listener's `panos` plugin treats an event as a hint and reads the VM's current "
        "state from Prism before applying it (batched: one v4 list call with a filter on up to 20 VM ids); "
        "`trust_payload: true` applies the payload as it came, without a lookup (lowest latency; a forged or stale "
        "event is applied as it is — see docs/listener.md). Same runs as section 2 (same workloads, the realistic "
        "firewall; the Prism simulator answers at once, so the latency added here is the listener's own work "
        "plus loopback round trips: a real Prism adds its own response time per call, which this does not "
        "measure). *Prism calls / event* counts every call the Prism simulator served during the run.", "",
        _table(["workload", "events", "Prism calls / event (default)", "Prism calls / event (trust_payload)",
                "p50 ms default", "p50 ms trust_payload", "p50 added ms", "p99 ms default", "p99 ms trust_payload",
                "p99 added ms"], rows), "",
        "The two sides ran one after the other on this shared machine, so a difference of a few ms is within what "
        "the machine's own noise gives; a negative *added* means the lookups cost less than that noise.", ""])


def _goals(r):
    rows = []
    runs = r.get("peers", {}).get("runs", [])
    mine = [x for x in runs if x["peer"] == "listener"]
    if mine:
        def ratio(x):  # from the figures themselves, not the rounded ratio
            return x["p99_ms"] / x["floor"]["p99_ms"] if x["p99_ms"] and x["floor"]["p99_ms"] else float("inf")
        worst = max(mine, key=ratio)
        rows.append(["p99 event → enforcement within 1.5x of the firewall floor, at every rate and the burst",
                     "; ".join("%s: %s" % (x["workload"], _f(ratio(x), 3)) for x in mine),
                     "met" if all(ratio(x) <= 1.5 for x in mine) else
                     "**not met** (worst: %s, %sx)" % (worst["workload"], _f(ratio(worst), 3))])
        burst = [x for x in mine if x["offered_rate"] is None]
        if burst:
            b = burst[0]
            per = b["per_1000"]["user_id_calls"]
            rows.append(["at most 10 User-ID calls per 1,000-event burst",
                         "%s per 1,000 events (%d calls for the burst of %d)" % (
                             _f(per, 1), b["user_id_calls"], b["events"]),
                         "met" if per <= 10 else "**not met**"])
    ing = r.get("ingest")
    if ing:
        ratios = ing["ratios"]
        rows.append(["ingest at least 0.6 of the bare endpoint",
                     "; ".join("%d senders: %s" % (x["concurrency"], _f(x["rate_ratio"], 2)) for x in ratios),
                     "met" if all((x["rate_ratio"] or 0) >= 0.6 for x in ratios) else "**not met** at %s senders"
                     % ", ".join(str(x["concurrency"]) for x in ratios if (x["rate_ratio"] or 0) < 0.6)])
        if all(x.get("eda_rate_ratio") for x in ratios):
            rows.append(["ingest against the EDA source's receiver (reported; that one is in memory, not durable)",
                         "; ".join("%d senders: %s" % (x["concurrency"], _f(x["eda_rate_ratio"], 2)) for x in ratios),
                         "reported"])
    by = dict(((x["peer"], x["offered_rate"]), x) for x in runs)
    small = [x for x in runs if x["peer"] == r.get("peers", {}).get("small_label")]
    for peer, name in (("eda", "the EDA route"), ("2017", "the 2017 design")):
        cells = []
        for x in small:
            other = by.get((peer, x["offered_rate"]))
            if other and x["p99_ms"] and other["p99_ms"]:
                ratios = (x["workload"], _f(other["p50_ms"] / x["p50_ms"], 1), _f(other["p99_ms"] / x["p99_ms"], 1))
                cells.append("%s: p50 %sx, p99 %sx" % ratios)
        if cells:
            what = "latency of %s ÷ the listener's on the same events (%d per workload: a lower bound)" % (
                name, r["peers"]["slow_max_events"])
            rows.append([what, "; ".join(cells), "reported"])
    if not rows:
        return ""
    return "\n".join([
        "## Goals", "",
        "From the figures of this run (issue 16's goals; reported here, not asserted in tests).", "",
        _table(["goal", "measured", "status"], rows), ""])


def _cost(r):
    rows = []
    for x in r["cost"]:
        rows.append([x["label"], x["vms"], x["api_calls"], x["commits"], x["per_1000"]["api_calls"],
                     x["per_1000"]["commits"], x["wall_s"], x["enforced"]])
    commit_s = r["cost"][0]["commit_seconds"]
    return "\n".join([
        "## 4. Firewall cost (instant firewall)", "",
        "**What:** XML API calls and commits the firewall receives for a burst of VM.ON events, and the wall time "
        "until every IP is enforced (registered-ip: in the registered-IP table; address-object: the address "
        "object in the *running* configuration, i.e. committed).", "",
        "**How:** the listener (defaults, `panos` plugin) and Prism's sender as in section 2, the events sent as "
        "fast as Prism's sender goes, but a PAN-OS simulator **without** the latency model (it answers at once: "
        "these are counts, not times) and with a simulated commit of **%g s**; counted from its request log "
        "(`stats()`; the plugin's first connection — keygen and `show system info` — is included). Beside the "
        "default, the batch window of 200 ms (the default before the change described under *Findings*). The "
        "2017 design's one commit per event is in section 2, on the realistic firewall." % commit_s,
        "", _table(["mode", "events", "API calls", "commits", "API calls / 1,000 ev", "commits / 1,000 ev",
                    "wall s to enforce all", "enforced"], rows), "",
        "Reproduce: `%s --only cost --commit-seconds %g`." % (RUN, commit_s), ""])


def _reconcile(r):
    rows = [[x.get("how", "reconcile()"), x["size"], x["run"], x["wall_s"], x["prism_pages"], x["userid_calls"],
             x["firewall_calls"], x["registered"], x.get("rss_before_mib"), x["peak_rss_mib"]] for x in r["reconcile"]]
    return "\n".join([
        "## 5. Reconcile scale", "",
        "**What:** one reconcile of every Prism VM against the firewall's registered-IP table over N VMs, first "
        "against an empty firewall, then again with nothing to change — measured two ways: the reconcile code "
        "itself (`module_utils/reconcile.py`, which `netevents.nutanix.vm_tag_sync` and the listener's periodic "
        "reconcile run), and `netevents.nutanix.vm_tag_sync` in a real `ansible-playbook` run, as a user runs it.",
        "",
        "**How:** VMs seeded in the Prism simulator (`seed_vms`: built as `POST /vms` builds them, two categories, "
        "one IP each). *reconcile()*: `bench/reconcile_worker.py` calls it in its own process, `page_size` 500; "
        "peak memory is that process's peak RSS since it started (`VmHWM`, interpreter and libraries included; "
        "*RSS before* is after imports). *ansible-playbook*: `bench/playbook_worker.py` runs a one-task play on localhost "
        "(`page_size: 500`) and times the whole command — Ansible's start-up, the module shipped to and run in its "
        "own process, the result (with every registered IP) returned as JSON; peak memory is the largest of the "
        "processes it ran (`RUSAGE_CHILDREN`: a process forked from `ansible-playbook` also counts the memory it "
        "inherited, so this is an upper bound). Prism pages and User-ID calls are counted by the simulators.", "",
        _table(["how", "VMs", "run", "wall s", "Prism pages", "User-ID calls", "firewall calls", "IPs registered",
                "RSS before MiB", "peak RSS MiB"], rows), "",
        "Reproduce: `%s --only reconcile`." % RUN, ""])


def _footprint(r):
    f = r["ingest"]["footprint"]
    return "\n".join([
        "## 6. Footprint", "",
        "**What / how:** the listener (`log` plugin, as in 1.) — gunicorn master plus its one worker, RSS summed "
        "from `/proc` — one second after it became healthy, and the peak sampled every 50 ms during the ingest "
        "runs; start-up is from `exec` to the first `200` on `/healthz`.", "",
        _table(["start-up s", "idle RSS MiB", "RSS under ingest load MiB"],
               [[_f(f["startup_s"], 2), f["idle_rss_mib"], f["loaded_rss_mib"]]]), "",
        "Reproduce: `%s --only ingest`." % RUN, ""])


def _poll(r):
    rows = [[x["vms"], x["api"], x["run"], x["wall_s"], x["cpu_s"], x["api_calls"], x["events_queued"]]
            for x in r["poll"]]
    return "\n".join([
        "## 7. Poll cycle cost", "",
        "**What:** one cycle of the listener's poll source (`netevents_listener/poller.py`, `prism.source: poll` or "
        "`both`) over N VMs, through v4 and v3: the first cycle (nothing seen yet: every VM announced once), a "
        "steady one (nothing changed: the cost paid every `poll_interval_s`), and one after 1 VM in 100 was "
        "powered off. See docs/sources.md for what it means for the interval.", "",
        "**How:** `bench/poll_cost.py` runs the real `Poller` (its `PrismClient`, SQLite queue and `poll_state`) "
        "against the Prism simulator in the same process (VMs seeded with ten category values). *CPU s* is the "
        "polling thread's own (`time.thread_time`); *wall s* includes the simulator's work, which competes for the "
        "same interpreter. API calls are counted by the simulator.", "",
        _table(["VMs", "API", "cycle", "wall s", "CPU s", "API calls", "events queued"], rows), "",
        "Reproduce: `%s --only poll` (or `bench/poll_cost.py` alone)." % RUN, ""])


def _s(ms):
    """Milliseconds as seconds with two decimals (a delivered webhook takes a fraction of one)."""
    return "–" if ms is None else "%.2f" % (ms / 1000.0)


def _poll_latency(r):
    modes = r["poll_latency"]
    rows = []
    for m in modes:
        rows.append([m["mode"], m["interval_s"], "all", m["changes"], m["enforced"], _s(m["p50_ms"]),
                     _s(m["p99_ms"]), _s(m["max_ms"])])
        rows += [[m["mode"], m["interval_s"], v["via"], v["changes"], v["n"], _s(v["p50_ms"]), _s(v["p99_ms"]),
                  _s(v["max_ms"])] for v in m["via"] if len(m["via"]) > 1]
    m = modes[0]
    return "\n".join([
        "## 8. Change to enforcement with the poll source", "",
        "**What:** from a VM's change in Prism (powered on) until its IP is registered on the firewall, with "
        "`prism.source: poll` at `poll_interval_s` %s s, and with `both` when Prism loses every other change's "
        "webhook delivery (those changes can only come back through the poll). Expected: up to one interval "
        "(plus a cycle and the dispatch) for a change the poll finds; a delivered webhook in well under a second."
        % m["interval_s"], "",
        "**How:** `bench/poll_latency.py`: per mode, the listener as deployed (section 2's `listener` peer with "
        "the source set) against its own Prism simulator and a VM-50 PAN-OS simulator (latency model on); %d VMs "
        "seeded powered off, then — once the first poll cycle has seen them — powered on one at a time, evenly "
        "over %s s (so the changes fall at every phase of the poll cycle), each emitting `VM.ON` to the webhook "
        "(`both`). The simulator drops the chosen deliveries (`drop_if`: never POSTed, as a lost delivery Prism "
        "does not retry). Enforcement is timed by the hook in the firewall's User-ID handler (section 2). *via*: "
        "how each change arrived — `webhook` (delivered, answered 200) or `poll (webhook dropped)`." % (
            m["changes"], m["spread_s"]), "",
        _table(["source", "interval s", "via", "changes", "enforced", "p50 s", "p99 s", "max s"], rows), "",
        "Reproduce: `%s --only poll_latency`." % RUN, ""])


# Hand-written and dated: what the figures mean, and the profiling behind the changes they led to (figures there
# come from the commands it names, not from this run).
FINDINGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "findings.md")


def write(results, output):
    parts = ["# Performance", "",
             "Generated by `make bench` (`%s`): every figure below is what that run measured, on the machine "
             "described here; `docs/performance.json` holds them all. Ratios compare sides measured in the same run."
             % RUN, "", _machine(results), ""]
    parts.append(_goals(results))
    for key, render in (("ingest", _ingest), ("peers", _peers), ("peers", _lookups),
                        ("cost", _cost), ("reconcile", _reconcile), ("ingest", _footprint), ("poll", _poll),
                        ("poll_latency", _poll_latency)):
        if key in results:
            parts.append(render(results))
    with open(FINDINGS) as f:
        parts.append(f.read())
    with open(os.path.join(output, "performance.md"), "w") as f:
        f.write("\n".join(parts))
    plot(results, os.path.join(output, "performance.png"))


def plot(results, path):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
    fig, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    peers = (results.get("peers") or {}).get("runs") or []
    if peers:
        labels = [w[0] for w in results["peers"]["plan"]]
        x_of = dict((w[2], n) for n, w in enumerate(results["peers"]["plan"]))
        colours = {"listener": "tab:blue", "listener, trust_payload": "tab:cyan", "eda": "tab:red",
                   "2017": "tab:purple"}
        small = results["peers"].get("small_label")
        colours[small] = "tab:green"
        slow = results["peers"]["slow_max_events"]
        for peer in ("listener", "listener, trust_payload", small, "eda", "2017"):
            pts = [x for x in peers if x["peer"] == peer]
            if not pts:
                continue
            name = peer if peer in ("listener", "listener, trust_payload", small) else "%s, %d events" % (peer, slow)
            xs = [x_of.get(x["offered_rate"], 0) for x in pts]
            left.plot(xs, [x["p99_ms"] for x in pts], "s-", color=colours[peer], label="%s p99" % name)
            left.plot(xs, [x["p50_ms"] for x in pts], "o:", color=colours[peer], label="%s p50" % name)
        for peer, style in (("listener", "k--"), (small, "k:")):
            mine = [x for x in peers if x["peer"] == peer]
            left.plot([x_of.get(x["offered_rate"], 0) for x in mine], [x["floor"]["p99_ms"] for x in mine], style,
                      label="floor p99 (%s)" % ("full runs" if peer == "listener" else "%d events" % slow))
        left.set_xticks(range(len(labels)))
        left.set_xticklabels(["burst" if label.startswith("burst") else label for label in labels], fontsize=8)
        left.set_yscale("log")
        left.set_ylabel("Prism emits VM.ON -> IP enforced (ms)")
        left.set_title("Event to enforcement, %s latency model (burst: %d VMs, %d in the %d-event runs)" % (
            results["peers"]["firewall"]["model"], results["peers"].get("burst", 0), slow, slow), fontsize=9)
        left.legend(fontsize=6)
        left.grid(True, which="both", alpha=0.3)
    ing = results.get("ingest")
    if ing:
        for side, marker, colour in (("listener", "o", "tab:blue"), ("bare", "s", "tab:gray"),
                                     ("eda", "^", "tab:red")):
            pts = ing.get(side) or []
            right.plot([p["rate"] for p in pts], [p["p50_ms"] for p in pts], marker + "-", color=colour,
                       label="%s p50" % side)
            right.plot([p["rate"] for p in pts], [p["p99_ms"] for p in pts], marker + "--", color=colour,
                       label="%s p99" % side)
            for p in pts:
                right.annotate("%d" % p["concurrency"], (p["rate"], p["p99_ms"]), textcoords="offset points",
                               xytext=(4, 4), fontsize=8)
        right.set_xlabel("acknowledged events / s (label: senders)")
        right.set_ylabel("acknowledgement latency (ms)")
        right.set_title("Ingest: listener, bare endpoint, EDA receiver")
        right.legend(fontsize=8)
        right.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
