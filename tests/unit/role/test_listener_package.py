"""The listener's wheel, built the way the role builds it (pip wheel, no build isolation, on the controller).

It must carry every module of netevents_listener, subpackages included (found by discovery), and the
collection's module_utils at their import path; no bytecode or cache of the checkout; and two builds of the same
tree must be byte-identical, which is what keeps a second deploy from copying and reinstalling it.
"""
import hashlib
import os
import re
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO

SOURCE = os.path.join(REPO, "roles", "listener", "files")
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
MODULE_UTILS_IMPORT_PATH = "ansible_collections/netevents/nutanix/plugins/module_utils"


def build(out_dir):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out_dir), SOURCE], check=True, capture_output=True)
    (wheel,) = out_dir.glob("*.whl")
    return wheel


def python_files(root, prefix):
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found += [os.path.join(prefix, os.path.relpath(os.path.join(folder, f), root)).replace(os.sep, "/")
                  for f in files if f.endswith(".py")]
    return sorted(found)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    # Bytecode in the tree (as any test run leaves it) must not reach the wheel.
    subprocess.run([sys.executable, "-m", "compileall", "-q", SOURCE, MODULE_UTILS], check=True, capture_output=True)
    return build(tmp_path_factory.mktemp("one")), build(tmp_path_factory.mktemp("two"))


def test_the_wheel_carries_the_package_and_the_module_utils(wheels):
    with zipfile.ZipFile(wheels[0]) as z:
        names = sorted(n for n in z.namelist() if ".dist-info/" not in n)
        metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    expected = python_files(os.path.join(SOURCE, "netevents_listener"), "netevents_listener") + python_files(
        MODULE_UTILS, MODULE_UTILS_IMPORT_PATH)
    assert names == sorted(expected)
    assert "\nName: netevents-listener\n" in metadata


def normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_pinned_requirements_cover_the_package_dependencies(wheels):
    """The role installs the wheel with --no-deps after requirements.txt: every dependency must be pinned there."""
    with zipfile.ZipFile(wheels[0]) as z:
        metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    needed = {normalized(re.split(r"[<>=!~; ]", line.split(":", 1)[1].strip())[0])
              for line in metadata.splitlines() if line.startswith("Requires-Dist:")}
    with open(os.path.join(SOURCE, "requirements.txt")) as f:
        pinned = {normalized(line.split("==")[0]) for line in f if "==" in line and not line.startswith("#")}
    assert needed and needed <= pinned, needed - pinned


def test_two_builds_are_identical(wheels):
    digests = [hashlib.sha256(w.read_bytes()).hexdigest() for w in wheels]
    assert digests[0] == digests[1]
    assert wheels[0].name == wheels[1].name


def test_the_version_is_the_package_version(wheels):
    namespace = {}
    with open(os.path.join(SOURCE, "netevents_listener", "__init__.py")) as f:
        version = next(line for line in f if line.startswith("__version__"))
    exec(version, namespace)  # pylint: disable=exec-used
    assert wheels[0].name == "netevents_listener-%s-py3-none-any.whl" % namespace["__version__"]
