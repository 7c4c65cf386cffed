"""Webhook load generator, run as its own process: N sender threads, each with one keep-alive HTTP connection,
POSTing Prism-shaped VM.ON events (a distinct VM per event: VMs number *first* .. *first* + *count* - 1, so
successive runs against one listener must not overlap, or the listener acknowledges them as duplicates without
queueing them) until *count* events were acknowledged or *duration* seconds passed. Loopback only. Prints one
JSON line: {"acked", "queued", "errors", "elapsed_s", "rate", "latencies_s": [...]} — latency is send to the
200 being read; *queued* counts the 200s whose body says ``"status": "queued"``.

    python bench/loadgen.py --url http://127.0.0.1:8080/listener/callback --user U --password-env P \
        --concurrency 8 --count 2000 --duration 20 --first 0
"""
import argparse
import base64
import http.client
import ipaddress
import itertools
import json
import os
import sys
import threading
import time
from urllib.parse import urlsplit


def event_body(i):
    uuid = "bench-%08d-0000-4000-8000-000000000000" % i
    ip = str(ipaddress.ip_address("10.64.0.0") + (i % 4000000))
    vm = {"api_version": "3.1",
          "metadata": {"kind": "vm", "uuid": uuid, "categories": {"AppTier": "Web"}, "spec_version": 0},
          "spec": {"name": "vm-%d" % i, "resources": {"power_state": "ON"}},
          "status": {"state": "COMPLETE", "name": "vm-%d" % i, "resources": {
              "power_state": "ON", "nic_list": [{"ip_endpoint_list": [{"ip": ip, "type": "ASSIGNED"}]}]}}}
    return json.dumps({"entity_reference": {"kind": "vm", "uuid": uuid}, "data": {"metadata": vm},
                       "version": "1.0", "event_type": "VM.ON"}).encode()


def run(url, user, password, concurrency, count, duration, first=0):
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loopback only")
    headers = {"Content-Type": "application/json", "Connection": "keep-alive",
               "Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}
    counter = itertools.count()
    lock = threading.Lock()
    latencies, errors, queued = [], [0], [0]
    deadline = time.monotonic() + duration

    def sender():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine, mine_queued = [], 0
        while time.monotonic() < deadline:
            with lock:
                i = next(counter)
            if i >= count:
                break
            body = event_body(first + i)
            start = time.perf_counter()
            try:
                conn.request("POST", parts.path, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                ok = response.status == 200
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                ok = False
            if ok:
                mine.append(time.perf_counter() - start)
                mine_queued += b'"status":"queued"' in answer.replace(b" ", b"")
            else:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            queued[0] += mine_queued

    threads = [threading.Thread(target=sender, daemon=True) for _n in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 60)
    elapsed = time.perf_counter() - started
    return {"acked": len(latencies), "queued": queued[0], "errors": errors[0], "elapsed_s": round(elapsed, 3),
            "rate": round(len(latencies) / elapsed, 1) if elapsed else 0.0, "latencies_s": latencies}


def main(argv=None):
    parser = argparse.ArgumentParser(description="POST Prism-shaped webhook events (loopback only)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-env", required=True, help="environment variable holding the password")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--first", type=int, default=0, help="number of the first VM (default 0)")
    args = parser.parse_args(argv)
    result = run(args.url, args.user, os.environ[args.password_env], args.concurrency, args.count, args.duration,
                 args.first)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
