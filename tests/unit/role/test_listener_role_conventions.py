"""The listener role keeps node_exporter's conventions, and meta/argument_specs.yml stays complete and true.

- public variables are listener_* in defaults/; vars/ (which beats the inventory) holds only _listener_*;
  registered results are __listener_*, loop variables _listener_*;
- every public variable is in the main entry point's spec with the same default, and every listener_* the role
  reads is public; the other entry points agree with main;
- the phases carry the tags install, configure and run.
"""
import os
import re

import pytest
import yaml

from tests.conftest import REPO

ROLE = os.path.join(REPO, "roles", "listener")


def load(*parts):
    with open(os.path.join(ROLE, *parts)) as f:
        return yaml.safe_load(f)


def task_files():
    folder = os.path.join(ROLE, "tasks")
    return {name: load("tasks", name) for name in sorted(os.listdir(folder)) if name.endswith(".yml")}


def walk_tasks(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from walk_tasks(task.get(key))


def role_text():
    """Every task file, handler, template and vars file of the role, as text."""
    texts = []
    for folder in ("tasks", "handlers", "templates", "vars"):
        for name in sorted(os.listdir(os.path.join(ROLE, folder))):
            with open(os.path.join(ROLE, folder, name)) as f:
                texts.append(f.read())
    return "\n".join(texts)


DEFAULTS = load("defaults", "main.yml")
SPECS = load("meta", "argument_specs.yml")["argument_specs"]
MAIN = SPECS["main"]["options"]


def test_vars_are_internal_and_free_of_loops():
    variables = load("vars", "main.yml")
    assert variables and [name for name in variables if not name.startswith("_listener_")] == []
    with open(os.path.join(ROLE, "vars", "main.yml")) as f:
        assert "{%" not in f.read()
    assert not set(variables) & set(DEFAULTS)


def test_registers_and_loop_variables_are_internal():
    for name, tasks in list(task_files().items()) + [("handlers", load("handlers", "main.yml"))]:
        for task in walk_tasks(tasks):
            if "register" in task:
                assert task["register"].startswith("__listener_"), (name, task["name"])
            loop_var = task.get("loop_control", {}).get("loop_var")
            if loop_var:
                assert loop_var.startswith("_listener_"), (name, task["name"])


def test_every_default_is_in_the_main_spec_with_its_value():
    assert sorted(set(DEFAULTS) - set(MAIN)) == []
    for name, value in DEFAULTS.items():
        spec_default = MAIN[name].get("default")
        if isinstance(value, str) and "{{" in value and name == "listener_webhook_url":
            continue  # the spec shows the URL's shape, the default computes it
        assert spec_default == value, name


def test_required_options_have_no_default():
    required = sorted(name for name, spec in MAIN.items() if spec.get("required"))
    # listener_prism_host and its credentials (a user name and password, or an API key): required unless
    # listener_prisms is set (tasks/main.yml checks which).
    assert required == []
    assert not set(required) & set(DEFAULTS)
    assert sorted(set(MAIN) - set(DEFAULTS)) == required


def test_every_public_variable_the_role_reads_is_specified():
    text = re.sub(r"(?m)^\s*tags: \[.*\]$", "", role_text())  # tag names are not variables
    read = set(re.findall(r"(?<![\w.])listener_[a-z0-9_]+(?![\w\\])", text))
    assert sorted(read - set(MAIN)) == []


@pytest.mark.parametrize("entry_point", sorted(set(SPECS) - {"main"}))
def test_other_entry_points_agree_with_main(entry_point):
    for name, spec in SPECS[entry_point]["options"].items():
        assert name in MAIN, name
        assert spec.get("type") == MAIN[name].get("type"), name
        assert spec.get("default") == MAIN[name].get("default"), name


def test_every_entry_point_has_its_task_file():
    assert sorted(SPECS) == sorted(name for name in ("main", "remove", "sync") if name + ".yml" in task_files())


def test_phases_carry_their_tags():
    tags = {}
    for task in load("tasks", "main.yml"):
        target = task.get("ansible.builtin.import_tasks") or (task.get("ansible.builtin.include_tasks") or {})
        target = target if isinstance(target, str) else target.get("file")
        if target:
            tags[target] = set(task.get("tags", []))
    assert {"install"} <= tags["install.yml"] and {"configure"} <= tags["configure.yml"]
    assert {"run"} <= tags["run.yml"]
    assert {"install", "configure", "run"} <= tags["preflight.yml"]
