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
    return ("Measured %s on %d cores (%s), %.1f GiB RAM, Python %s, Linux %s; scratch files (queue, state) on %s; "
            "load average %.2f before the run. The whole run took %.0f s%s." % (
                r["date"], m["nproc"], m["cpu"], m["memory_gib"], m["python"], m["kernel"], m["workdir_fs"],
                m["load_before"], r["elapsed_s"], " (**--quick sizes: a smoke run, not figures to quote**)"
                if r.get("quick") else ""))


def _ingest(r):
    i = r["ingest"]
    rows = []
    for a, b, ratio in zip(i["listener"], i["bare"], i["ratios"]):
        rows.append([a["concurrency"], a["acked"], a.get("queued", "–"), a["rate"], a["p50_ms"], a["p99_ms"],
                     _f(a.get("cpu_ms_per_event"), 3), b["rate"], b["p50_ms"], b["p99_ms"],
                     _f(b.get("cpu_ms_per_event"), 3),
                     _f(ratio["rate_ratio"], 2), a["errors"] + b["errors"]])
    rounds = i.get("rounds", 1)
    return "\n".join([
        "## 1. Ingest", "",
        "**What:** webhook events acknowledged per second (the `200` comes after the event is committed to the "
        "SQLite queue, WAL + `synchronous=FULL`) and the acknowledgement latency, at 1, 8 and 32 concurrent "
        "senders; beside it the *bare endpoint* (`bench/bare_server.py`, bench only): the same gunicorn settings "
        "(one gthread worker, `threads: 8`, keep-alive) and a Flask app whose route reads the body and answers 200 "
        "without authenticating, parsing, persisting, logging or consuming anything — the ceiling.", "",
        "**How:** the listener as deployed — `python -m netevents_listener`, basic auth on, JSON logs at INFO, the "
        "`log` plugin consuming the queue meanwhile, queue defaults. The load comes from a separate process "
        "(`bench/loadgen.py`: one thread and one keep-alive connection per sender, Prism-shaped VM.ON bodies of "
        "~560 bytes, a distinct VM each — also across rounds and points, so none is acknowledged as a duplicate "
        "without being queued: *queued* counts the answers `{\"status\": \"queued\"}`), over loopback. Both "
        "servers run at once; at each point the load generator drives them in turn, %d rounds of %d events "
        "each (interleaved, so a slow spell of this shared machine hits both sides alike); rates, latencies and "
        "CPU are the medians of the rounds. *CPU ms/event* is the gunicorn worker's user + system time per "
        "acknowledged event (from `/proc`): the figure that explains the rates, as the worker is one Python "
        "process. The load generator shares the 2 cores with it." % (rounds, i["count"]), "",
        _table(["senders", "acked", "queued", "listener ev/s", "p50 ms", "p99 ms", "CPU ms/event", "bare ev/s",
                "bare p50 ms", "bare p99 ms", "bare CPU ms/event", "listener/bare", "errors"], rows), "",
        "Reproduce: `%s --only ingest`; one point by hand: `%s` (with the listener running and "
        "`BENCH_WEBHOOK_PASSWORD` set)." % (RUN, i["listener"][-1]["command"]), ""])


def _latency(r):
    rows = [[x.get("batch_window_ms", 200), x["offered_rate"], x["vms"], x["delivered_rate"], x["enforced"],
             x["p50_ms"], x["p99_ms"], x["max_ms"], x["calls"].get("user-id", 0), x["wall_s"]] for x in r["latency"]]
    return "\n".join([
        "## 2. Event to enforcement", "",
        "**What:** from the moment the Prism simulator starts POSTing `VM.ON` to the listener until the VM's IP is "
        "in the firewall's registered-IP table, for a burst of VMs at a fixed event rate.", "",
        "**How:** Prism simulator with N seeded VMs (powered on, one IP, `AppTier: Web`) and the listener's "
        "webhook; the bench asks it to send `VM.ON` for each VM at the given rate (`emit_vm_event`), its one "
        "sender thread POSTs them in order (a new HTTP connection each, as Prism does) and records when each POST "
        "started. The listener runs the `panos` plugin in `registered-ip` mode with the queue settings the role "
        "deploys by default (read from `roles/listener/defaults/main.yml`: `batch_window_ms: 0`, "
        "`batch_max_events: 500`) over 1,000 VMs; beside each rate, the same with `batch_window_ms: 200` (the "
        "default before the change described under *Findings*) over fewer VMs to keep the run short. A poller reads "
        "the PAN-OS simulator's registered-IP table every 2 ms. *delivered ev/s* is the rate Prism's sender "
        "achieved: above it, events wait in Prism's outbox, which this latency does not count.", "",
        _table(["window ms", "offered ev/s", "VMs", "delivered ev/s", "enforced", "p50 ms", "p99 ms", "max ms",
                "User-ID calls", "wall s"], rows), "",
        "Reproduce: `%s --only latency`." % RUN, "",
        "![latency against event rate](performance.png)", ""])


def _cost(r):
    rows = []
    for x in r["cost"]:
        rows.append([x["label"], x["vms"], x["api_calls"], x["commits"], x["per_1000"]["api_calls"],
                     x["per_1000"]["commits"], x["wall_s"], x["enforced"]])
    commit_s = r["cost"][0]["commit_seconds"]
    return "\n".join([
        "## 3. Firewall cost", "",
        "**What:** XML API calls and commits the firewall receives for a burst of VM.ON events, and the wall time "
        "until every IP is enforced (registered-ip: in the registered-IP table; address-object: the address "
        "object in the *running* configuration, i.e. committed).", "",
        "**How:** the same pipeline as above with the events sent as fast as Prism's sender goes; PAN-OS simulator "
        "with a simulated commit of **%g s** (a real PA-VM commit takes 10–60 s or more; pan-os-python polls the "
        "job every 0.5 s), counted from its request log (`stats()`; the plugin's first connection — keygen and "
        "`show system info` — is included). *Batch of one* is `batch_max_events: 1`: a configuration change and a "
        "commit per event, as the 2017 framework did; it runs on fewer events to keep `make bench` short, and "
        "its per-1,000 figures are that measured rate times 1,000/N (linear: every event costs the same)." % commit_s,
        "", _table(["mode", "events", "API calls", "commits", "API calls / 1,000 ev", "commits / 1,000 ev",
                    "wall s to enforce all", "enforced"], rows), "",
        "Reproduce: `%s --only cost --commit-seconds %g`." % (RUN, commit_s), ""])


def _reconcile(r):
    rows = [[x.get("how", "reconcile()"), x["size"], x["run"], x["wall_s"], x["prism_pages"], x["userid_calls"],
             x["firewall_calls"], x["registered"], x.get("rss_before_mib"), x["peak_rss_mib"]] for x in r["reconcile"]]
    return "\n".join([
        "## 4. Reconcile scale", "",
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
        "## 5. Footprint", "",
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
        "## 6. Poll cycle cost", "",
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


# Hand-written and dated: what the figures mean, and the profiling behind the changes they led to (figures there
# come from the commands it names, not from this run).
FINDINGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "findings.md")


def write(results, output):
    parts = ["# Performance", "",
             "Generated by `make bench` (`%s`): every figure below is what that run measured, on the machine "
             "described here; `docs/performance.json` holds them all. Ratios compare sides measured in the same run."
             % RUN, "", _machine(results), ""]
    for key, render in (("ingest", _ingest), ("latency", _latency), ("cost", _cost), ("reconcile", _reconcile),
                        ("ingest", _footprint), ("poll", _poll)):
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
    lat = results.get("latency") or []
    if lat:
        windows = sorted(set(x.get("batch_window_ms", 200) for x in lat))
        colours = dict(zip(windows, ("tab:blue", "tab:orange", "tab:green")))
        for window in windows:
            points = [x for x in lat if x.get("batch_window_ms", 200) == window]
            rates = [x["offered_rate"] for x in points]
            for key, label, style in (("p50_ms", "p50", "o-"), ("p99_ms", "p99", "s--"), ("max_ms", "max", "^:")):
                left.plot(rates, [x[key] for x in points], style, color=colours.get(window),
                          label="window %d ms %s" % (window, label))
        left.set_xscale("log")
        left.set_yscale("log")
        left.set_xlabel("offered event rate (VM.ON / s)")
        left.set_ylabel("Prism POST -> IP registered (ms)")
        left.set_title("Event to enforcement, by batch window")
        left.legend(fontsize=7)
        left.grid(True, which="both", alpha=0.3)
    ing = results.get("ingest")
    if ing:
        for side, marker in (("listener", "o"), ("bare", "s")):
            pts = ing[side]
            right.plot([p["rate"] for p in pts], [p["p50_ms"] for p in pts], marker + "-", label="%s p50" % side)
            right.plot([p["rate"] for p in pts], [p["p99_ms"] for p in pts], marker + "--", label="%s p99" % side)
            for p in pts:
                right.annotate("%d" % p["concurrency"], (p["rate"], p["p99_ms"]), textcoords="offset points",
                               xytext=(4, 4), fontsize=8)
        right.set_xlabel("acknowledged events / s (label: senders)")
        right.set_ylabel("acknowledgement latency (ms)")
        right.set_title("Ingest: listener vs bare endpoint")
        right.legend(fontsize=8)
        right.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
