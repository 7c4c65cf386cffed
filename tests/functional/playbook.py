"""Run real ansible-playbook against localhost and read back each task's result.

Every functional test goes through :func:`run_playbook`: it writes the play to a temp dir, runs the real
``ansible-playbook`` (a subprocess, the collection found through ANSIBLE_COLLECTIONS_PATH) and collects every
task result through the test-only ``record_results`` callback.
"""
import json
import os
import subprocess
import sys

import yaml

from tests.conftest import COLLECTIONS_ROOT, REPO

CALLBACKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins")


class PlaybookRun:
    def __init__(self, rc, stdout, stderr, results):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.results = results  # list of {"task", "host", "status", "result"}

    def result(self, task_name):
        """The result of the (last) task with that name."""
        matches = [r for r in self.results if r["task"] == task_name]
        assert matches, "no task named %r ran; tasks: %s\n%s" % (
            task_name, [r["task"] for r in self.results], self.stdout[-3000:])
        return matches[-1]["result"]

    def status(self, task_name):
        return [r for r in self.results if r["task"] == task_name][-1]["status"]

    @property
    def changed_count(self):
        return sum(1 for r in self.results if r["result"].get("changed"))

    @property
    def failed(self):
        return [r for r in self.results if r["status"] == "failed"]


def ansible_env(tmp_path, extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS_ROOT,
        "ANSIBLE_CALLBACK_PLUGINS": CALLBACKS,
        "ANSIBLE_CALLBACKS_ENABLED": "record_results",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "NETEVENTS_RESULTS_FILE": str(tmp_path / "results.jsonl"),
    })
    # Modules must not pick up connection settings from the developer's shell.
    for var in ("NUTANIX_HOST", "NUTANIX_PORT", "NUTANIX_USERNAME", "NUTANIX_PASSWORD", "NUTANIX_API_KEY", "VALIDATE_CERTS",
                "NUTANIX_CA_PATH", "PANOS_HOSTNAME", "PANOS_USERNAME", "PANOS_PASSWORD", "PANOS_API_KEY"):
        env.pop(var, None)
    env.update(extra or {})
    return env


def run_playbook(tmp_path, tasks=None, playbook=None, extra_vars=None, check=False, diff=False,
                 env=None, args=(), timeout=600, inventory=None):
    """Run *tasks* (a list of task dicts, as one play on localhost) or an existing *playbook* file, on localhost
    over the local connection or, given an *inventory* file, on its hosts with the connections it names."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    results_file = tmp_path / "results.jsonl"
    if results_file.exists():
        results_file.unlink()
    if playbook is None:
        playbook = tmp_path / "play.yml"
        play = [{"name": "functional test", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
        playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    target = ["-i", str(inventory)] if inventory else ["-i", "localhost,", "-c", "local"]
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")] + target + [str(playbook)]
    if extra_vars:
        vars_file = tmp_path / "extra_vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        cmd += ["-e", "@%s" % vars_file]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    cmd += list(args)
    proc = subprocess.run(cmd, cwd=REPO, env=ansible_env(tmp_path, env), capture_output=True, text=True, check=False,
                          timeout=timeout)
    results = []
    if results_file.exists():
        results = [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)
