"""Smoke run of the benchmarks (`bench/run.py --quick`): tiny sizes, checks the report and the plot were produced
with numeric figures read back from the files. No timing assertions: the figures depend on the machine."""
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_quick_bench_writes_the_report_and_the_plot(tmp_path):
    try:
        import matplotlib  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("matplotlib is not installed (pip install -r bench/requirements.txt)")
    done = subprocess.run([sys.executable, os.path.join(REPO, "bench", "run.py"), "--quick", "--output",
                           str(tmp_path), "--workdir", str(tmp_path)], capture_output=True, text=True,
                          timeout=240, check=False, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr

    with open(str(tmp_path / "performance.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    results = json.loads((tmp_path / "performance.json").read_text())
    for side in ("listener", "bare"):
        points = results["ingest"][side]
        assert [p["concurrency"] for p in points] == [1, 8, 32]
        assert all(p["acked"] > 0 and p["rate"] > 0 and p["p99_ms"] >= p["p50_ms"] > 0 for p in points)
    # Every acknowledged event was queued: no point re-sent an earlier point's VMs (those are duplicates).
    assert all(p["queued"] == p["acked"] for p in results["ingest"]["listener"])
    # At each rate: the deployed default window (0), then the 200 ms window beside it.
    assert [(x["offered_rate"], x["batch_window_ms"]) for x in results["latency"]] == [
        (10, 0), (10, 200), (100, 0), (100, 200), (1000, 0), (1000, 200)]
    assert all(x["enforced"] == x["vms"] and x["max_ms"] > 0 for x in results["latency"])
    cost = dict(("%s/%d/%d" % (x["mode"], x["batch_max_events"], x["batch_window_ms"]), x) for x in results["cost"])
    for key in ("registered-ip/500/0", "registered-ip/500/200"):
        assert cost[key]["commits"] == 0 and cost[key]["calls"]["user-id"] >= 1
    assert cost["address-object/500/0"]["commits"] >= 1
    assert cost["address-object/1/0"]["commits"] == cost["address-object/1/0"]["vms"]  # a commit per event
    first, again = results["reconcile"][0], results["reconcile"][1]
    assert first["registered"] == first["size"] == first["registered_ips_after"] and first["userid_calls"] == 1
    assert again["run"] == "no-change" and again["registered"] == 0 and again["userid_calls"] == 0
    assert first["prism_pages"] >= 1 and first["peak_rss_mib"] > 0
    # The same two runs through a real ansible-playbook.
    play = [x for x in results["reconcile"] if x["how"] == "ansible-playbook" and x["size"] == first["size"]]
    assert [x["run"] for x in play] == ["first", "no-change"]
    assert play[0]["registered"] == play[0]["registered_ips_after"] == first["size"] and play[0]["userid_calls"] == 1
    assert play[1]["registered"] == 0 and play[1]["userid_calls"] == 0 and play[1]["wall_s"] > 0
    assert results["ingest"]["footprint"]["idle_rss_mib"] > 0
    # One poll cycle: the first announces every VM, a steady one queues nothing, 1 in 100 changed queues those.
    poll = dict(((x["api"], x["run"]), x) for x in results["poll"])
    for api in ("v4", "v3"):
        assert poll[api, "first"]["events_queued"] == poll[api, "first"]["vms"] == 200
        assert poll[api, "steady"]["events_queued"] == 0 and poll[api, "1% changed"]["events_queued"] == 2
    assert poll["v4", "steady"]["calls_by_api"] == {"v3": 0, "v4": 2} and poll["v3", "steady"]["api_calls"] == 1

    doc = (tmp_path / "performance.md").read_text()
    for heading in ("## 1. Ingest", "## 2. Event to enforcement", "## 3. Firewall cost", "## 4. Reconcile scale",
                    "## 5. Footprint", "## 6. Poll cycle cost"):
        assert heading in doc
    # The tables carry the measured numbers.
    row = next(line for line in doc.splitlines() if line.startswith("| 32 |"))
    assert re.search(r"\| \d+\.\d+ \|", row)
    assert "%d cores" % os.cpu_count() in doc
