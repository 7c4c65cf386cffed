"""The programs outside the virtualenv that `make test` needs: what each is for, and whether it is here.

Without them some checks cannot run. A developer gets a warning that names what will be skipped, and each test says
why it skips; with CI=true (.ci/run sets it, after installing these on Debian) a missing one fails, here before
anything runs and again in the test that needs it. Standard library only: .ci/run asks it, before the virtualenv
exists, which Debian packages to install.

Usage (python3 tests/tools/preflight.py ...):
    [NAME ...]   check these (a tool, "root", or a make target: sanity, functional; default: all);
                 under CI=true exit 1 when one is missing
    --packages   print the Debian packages of the missing tools, one per line
"""
import os
import shutil
import sys

SYSTEMD_HOST = "the role on a real systemd host (tests/functional/test_role_systemd_host.py)"
# name -> (what needs it, the Debian package that provides it)
TOOLS = {
    "shellcheck": ("ansible-test sanity's shellcheck test, which skips itself quietly without it", "shellcheck"),
    "systemd-analyze": ("`systemd-analyze verify` of the rendered unit (tests/functional/test_role_listener.py)",
                        "systemd"),
    "java": ("ansible-rulebook, Java 17 (tests/functional/test_eda_rulebook.py)", "default-jre-headless"),
    "systemd-nspawn": (SYSTEMD_HOST, "systemd-container"),
    "debootstrap": (SYSTEMD_HOST + ", its Debian root file system", "debootstrap"),
    "nsenter": (SYSTEMD_HOST, "util-linux"),
    "ssh": (SYSTEMD_HOST + ", reached over SSH", "openssh-client"),
    "ssh-keygen": (SYSTEMD_HOST, "openssh-client"),
}
# Not a program: debootstrap, mount and systemd-nspawn need root.
ROOT = "root"
CHECKS = tuple(TOOLS) + (ROOT,)
# What each make target needs.
TARGETS = {"sanity": ("shellcheck",), "functional": tuple(name for name in CHECKS if name != "shellcheck")}


def in_ci():
    return os.environ.get("CI") == "true"


def find(name):
    """The path of *name* (java: $JAVA_HOME/bin first, as ansible-rulebook looks), or None."""
    if name == "java" and os.environ.get("JAVA_HOME"):
        found = shutil.which("java", path=os.path.join(os.environ["JAVA_HOME"], "bin"))
        if found:
            return found
    return shutil.which(name)


def missing(*names):
    """Why the checks that need *names* (default: all) cannot run here: one sentence per missing tool."""
    reasons = []
    for name in names or CHECKS:
        if name == ROOT:
            if os.geteuid() != 0:
                reasons.append("not root: %s needs root (debootstrap, mount, systemd-nspawn)" % SYSTEMD_HOST)
        elif find(name) is None:
            purpose, package = TOOLS[name]
            reasons.append("%s is not installed (Debian package %s): needed by %s" % (name, package, purpose))
    return reasons


def main(argv):
    if argv == ["--packages"]:
        for package in sorted({TOOLS[name][1] for name in TOOLS if find(name) is None}):
            print(package)
        return 0
    unknown = [name for name in argv if name not in CHECKS + tuple(TARGETS)]
    if unknown:
        print("preflight: unknown %s (known: %s)" % (", ".join(unknown), ", ".join(CHECKS + tuple(TARGETS))),
              file=sys.stderr)
        return 2
    names = [name for arg in argv for name in TARGETS.get(arg, (arg,))]
    reasons = missing(*names)
    for reason in reasons:
        print("preflight: %s: %s" % ("ERROR" if in_ci() else "WARNING", reason), file=sys.stderr)
    if reasons and in_ci():
        print("preflight: CI=true, so nothing may be skipped: install the above (.ci/run does on Debian)",
              file=sys.stderr)
        return 1
    if reasons:
        print("preflight: the checks above will be skipped (with CI=true they would fail)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
