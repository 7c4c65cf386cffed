#!/usr/bin/env python
"""`make demo`: the whole mission in under two minutes, against the simulators.

1. start the Prism v3 and PAN-OS simulators (HTTPS, self-signed) on free loopback ports;
2. run the real `ansible-playbook playbooks/deploy_listener.yml` on localhost (service manager "none"): it installs
   the listener, registers its webhook with Prism and lays the firewall scaffold (tags, dynamic address groups,
   a rule, one commit);
3. create and power on VMs with categories in Prism and watch the firewall's dynamic address groups follow them,
   then power one off and move another to a different tier;
4. run `vm_tag_sync` in check mode (nothing to repair), then `remove_listener.yml`, and stop everything.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import requests
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import tests.conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
from tests.conftest import COLLECTIONS_ROOT  # noqa: E402  pylint: disable=wrong-import-position
from tests.simulators.prism.admin import PrismAdmin  # noqa: E402  pylint: disable=wrong-import-position

requests.packages.urllib3.disable_warnings()  # the simulators' certificates are self-signed
BIN = os.path.dirname(sys.executable)
PRISM_USER, PRISM_PASSWORD = "admin", "demo-prism-password"
FW_USER, FW_PASSWORD = "admin", "demo-firewall-password"
WEBHOOK_PASSWORD = "demo-webhook-password"
GROUPS = [("web-servers", "'ntnx.AppTier.Web'"), ("db-servers", "'ntnx.AppTier.Db'"),
          ("prod-web", "'ntnx.AppTier.Web' and 'ntnx.Env.Prod'")]


def say(text):
    print("\n\033[1m== %s\033[0m" % text, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, command, port, *args):
    """Start a simulator standalone (``python -m tests.simulators.panos ...``); print its address and certificate."""
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m"] + command + ["--port", str(port)] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    line = proc.stdout.readline().strip()
    if "ready" not in line:
        raise SystemExit("%s simulator did not start: %s" % (name, line))
    print("  " + line)
    print("  " + proc.stdout.readline().strip())
    return proc


def dag_members(fw_url, key):
    """Dynamic address group membership as the firewall evaluates it (op command over the XML API)."""
    r = requests.post(fw_url + "/api/", data={
        "type": "op", "key": key,
        "cmd": "<show><object><dynamic-address-group><all/></dynamic-address-group></object></show>"},
        verify=False, timeout=10)
    members = {}
    for entry in ET.fromstring(r.text).findall("result/dyn-addr-grp/entry"):
        members[entry.findtext("group-name")] = sorted(m.get("name") for m in entry.findall("member-list/entry"))
    return members


def show_groups(fw_url, key, expect=None, timeout=15):
    """Print the groups once they reach the expected state (events are asynchronous), or after the timeout."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        members = dag_members(fw_url, key)
        if expect is None or all(members.get(g, []) == sorted(ips) for g, ips in expect.items()):
            if expect is not None:
                print("  (the firewall was in step %.1fs later)" % (time.monotonic() - started))
            break
        if time.monotonic() > deadline:
            print("  (still converging after %ss)" % timeout)
            break
        time.sleep(0.2)
    for group, _filter in GROUPS:
        print("  %-12s %s" % (group, ", ".join(members.get(group, [])) or "-"))
    return members


def vm_spec(name, ip):
    return {"name": name, "resources": {"power_state": "OFF", "num_sockets": 1, "memory_size_mib": 1024,
                                        "nic_list": [{"ip_endpoint_list": [{"ip": ip, "type": "ASSIGNED"}]}]}}


def playbook(name, workdir, extra_vars, env, *args, show=None):
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
           os.path.join(ROOT, "playbooks", name), "-e", "@" + extra_vars] + list(args)
    print("  $ ansible-playbook playbooks/%s -i localhost, -e @vars.yml %s" % (name, " ".join(args)), flush=True)
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if show and show in line:
            print("    " + line.split('"msg": ', 1)[-1].strip().strip('"'))
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):].strip().splitlines()
    for line in recap[1:]:
        print("    " + " ".join(line.split()))
    if proc.returncode:
        print(proc.stdout[-4000:], proc.stderr[-2000:])
        raise SystemExit("%s failed" % name)


def main():
    work = tempfile.mkdtemp(prefix="netevents-demo-")
    procs = []
    try:
        say("1. Start the simulators (they stand in for Prism Central and a VM-Series firewall)")
        prism_port, fw_port, listener_port = free_port(), free_port(), free_port()
        procs.append(start("Prism", ["tests.simulators.prism", "serve"], prism_port,
                           "--username", PRISM_USER, "--password", PRISM_PASSWORD))
        procs.append(start("PAN-OS", ["tests.simulators.panos"], fw_port,
                           "--username", FW_USER, "--password", FW_PASSWORD))
        fw_url = "https://127.0.0.1:%d" % fw_port

        say("2. Deploy the listener with the role, register its webhook, lay the firewall scaffold")
        target = {"ip_address": "127.0.0.1", "port": fw_port, "username": FW_USER, "password": FW_PASSWORD,
                  "validate_certs": False}
        variables = {
            "netevents_listener_hosts": "localhost",
            "ansible_become": False,
            "ansible_python_interpreter": sys.executable,
            "listener_service_manager": "none",
            "listener_create_user": False,
            "listener_user": "root", "listener_group": "root",
            "listener_install_os_packages": False,
            "listener_python": sys.executable,
            "listener_install_dir": os.path.join(work, "opt"),
            "listener_config_dir": os.path.join(work, "etc"),
            "listener_state_dir": os.path.join(work, "state"),
            "listener_bind_host": "127.0.0.1",
            "listener_port": listener_port,
            "listener_webhook_url": "http://127.0.0.1:%d/listener/callback" % listener_port,
            "listener_webhook_password": WEBHOOK_PASSWORD,
            "listener_prism_host": "127.0.0.1", "listener_prism_port": prism_port,
            "listener_prism_username": PRISM_USER, "listener_prism_password": PRISM_PASSWORD,
            "listener_prism_validate_certs": False,
            "listener_panos_targets": [target],
            "listener_batch_window_ms": 100,
            "listener_firewall_scaffold": True,
            "listener_scaffold_tags": [{"name": "ntnx.AppTier.Web", "color": "green"},
                                       {"name": "ntnx.AppTier.Db", "color": "blue"},
                                       {"name": "ntnx.Env.Prod", "color": "red"}],
            "listener_scaffold_groups": [{"name": g, "filter": f} for g, f in GROUPS],
            "listener_scaffold_rules": [{"name": "web-to-db", "source_ip": ["web-servers"],
                                         "destination_ip": ["db-servers"], "application": ["mysql"],
                                         "action": "allow", "description": "follows the VMs' categories"}],
        }
        vars_file = os.path.join(work, "vars.yml")
        with open(vars_file, "w") as f:
            yaml.safe_dump(variables, f)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCAL_TEMP=os.path.join(work, "ansible-tmp"))
        started = time.monotonic()
        playbook("deploy_listener.yml", work, vars_file, env)
        print("  deployed in %.0fs; the listener answers /healthz:" % (time.monotonic() - started))
        print("  " + requests.get("http://127.0.0.1:%d/healthz" % listener_port, timeout=5).text.strip()[:200])

        prism = PrismAdmin("127.0.0.1", port=prism_port, username=PRISM_USER, password=PRISM_PASSWORD,
                           validate_certs=False)
        hooks = prism.list_webhooks()
        for hook in hooks:
            spec = hook["spec"]
            print("  webhook %r -> %s (%d events)" % (spec["name"], spec["resources"]["post_url"],
                                                      len(spec["resources"]["events_filter_list"])))
        key = requests.post(fw_url + "/api/", data={"type": "keygen", "user": FW_USER, "password": FW_PASSWORD},
                            verify=False, timeout=10)
        key = ET.fromstring(key.text).findtext("result/key")
        print("  firewall groups before any VM runs:")
        show_groups(fw_url, key)

        say("3. Create and power on three VMs with categories")
        vms = {}
        for name, ip, cats in (("web-01", "10.10.1.11", {"AppTier": "Web", "Env": "Prod"}),
                               ("web-02", "10.10.1.12", {"AppTier": "Web", "Env": "Dev"}),
                               ("db-01", "10.10.2.21", {"AppTier": "Db", "Env": "Prod"})):
            vm = prism.create_vm(vm_spec(name, ip), metadata={"kind": "vm", "categories": cats})
            vms[name] = vm["metadata"]["uuid"]
            print("  created %-7s %-11s %s" % (name, ip, json.dumps(cats)))
        for name, uuid in vms.items():
            prism.set_power_state(uuid, "ON")
        print("  powered on; Prism delivers VM.ON to the listener, which tags the IPs on the firewall:")
        show_groups(fw_url, key, expect={"web-servers": ["10.10.1.11", "10.10.1.12"], "db-servers": ["10.10.2.21"],
                                         "prod-web": ["10.10.1.11"]})

        say("4. Power off web-02")
        prism.set_power_state(vms["web-02"], "OFF")
        show_groups(fw_url, key, expect={"web-servers": ["10.10.1.11"]})

        say("5. Move web-01 to the Db tier (a category change in Prism)")
        vm = prism.get_vm(vms["web-01"])
        metadata = dict(vm["metadata"], categories={"AppTier": "Db", "Env": "Prod"})
        prism.update_vm(vms["web-01"], vm["spec"], vm["metadata"]["spec_version"], metadata=metadata)
        show_groups(fw_url, key, expect={"web-servers": [], "db-servers": ["10.10.1.11", "10.10.2.21"],
                                         "prod-web": []})

        delivered = requests.get("https://127.0.0.1:%d/_sim/deliveries" % prism_port, verify=False, timeout=5).json()
        ok = sum(1 for d in delivered if d.get("status_code") == 200)
        print("  Prism delivered %d events, %d acknowledged with 200" % (len(delivered), ok))

        say("6. Ask vm_tag_sync (the reconcile, as a module) whether anything drifted")
        playbook("sync_firewall.yml", work, vars_file, env, "--check", show="127.0.0.1: {")

        say("7. Remove the listener (unregisters the webhook)")
        playbook("remove_listener.yml", work, vars_file, env)
        print("  webhooks left in Prism: %d" % len(prism.list_webhooks()))
        say("Done in %.0fs. Next: docs/listener.md, docs/deploy.md, `make test`." % (time.monotonic() - started))
    finally:
        pid_file = os.path.join(work, "state", "listener.pid")
        if os.path.exists(pid_file):  # the listener is still up if the tour stopped half-way
            subprocess.run([sys.executable, os.path.join(ROOT, "roles", "listener", "files", "supervise.py"), "stop",
                            "--pid-file", pid_file], check=False, capture_output=True)
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
