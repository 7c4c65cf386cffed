"""A Debian host with systemd as PID 1 for the functional tests: a systemd-nspawn container reached over SSH.

The machines that run the tests have no systemd as PID 1, so the role's systemd path runs in a container:

- ``rootfs()`` builds a Debian root file system once with debootstrap (minbase plus ``PACKAGES``) and keeps it in
  a cache outside the checkout (``$NETEVENTS_CI_CACHE``, default /var/cache/netevents-ci), keyed by the suite and
  the package list; a lock file lets several checkouts share it.
- ``SystemdHost`` boots it with systemd-nspawn on a writable overlay of its own (the cache stays clean; the overlay
  survives reboots, so state kept by a service is there after one), runs sshd on a free loopback port with a key
  made for it, and runs commands inside with nsenter.

Without ``--private-network`` the container shares the host's network namespace: its sshd and services listen on
the host's 127.0.0.1, and pip inside reaches the same package index as the host (whose CA bundle and /etc/pip.conf
are copied in at each boot). Needs root and debootstrap, systemd-nspawn (systemd-container), nsenter, ssh and
ssh-keygen.
"""
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid

from tests.functional.helpers import free_port
from tests.tools import preflight

SUITE = "bookworm"
# python3-apt for the role's apt task (as on a standard Debian install); ca-certificates for pip.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "python3-apt", "sudo", "openssh-server",
            "ca-certificates")
# The account Ansible logs in as: passwordless sudo, as on a freshly provisioned server.
ADMIN = "deploy"
# Bump when _configure() changes, so caches built by an older harness are not reused.
LAYOUT = 1
# Commands run inside get this environment, not the test process's (whose PIP_*, PYTHON* would leak in).
CONTAINER_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                 "HOME": "/root", "TERM": "dumb"}
BOOT_TIMEOUT = 90
STOP_TIMEOUT = 60


def missing():
    """Why a systemd host cannot be had here (a list of reasons; empty when it can)."""
    return preflight.missing("debootstrap", "systemd-nspawn", "nsenter", "ssh", "ssh-keygen", preflight.ROOT)


def cache_dir():
    return os.environ.get("NETEVENTS_CI_CACHE") or "/var/cache/netevents-ci"


def debian_mirror():
    """The host's own Debian mirror (apt sources, deb822 or one-line), else deb.debian.org."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as handle:
            for stanza in handle.read().split("\n\n"):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
                if SUITE in fields.get("Suites", "").split() and "main" in fields.get("Components", "").split():
                    return fields["URIs"].split()[0]
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            with open(path) as handle:
                match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+%s\s.*\bmain\b" % SUITE, handle.read(), re.M)
                if match:
                    return match.group(1)
    return "http://deb.debian.org/debian"


def rootfs():
    """The cached root file system's path, built first if needed (about a minute)."""
    key = hashlib.sha256(json.dumps([SUITE, sorted(PACKAGES), LAYOUT]).encode()).hexdigest()[:12]
    path = os.path.join(cache_dir(), "debian-%s-%s" % (SUITE, key))
    if os.path.isdir(path):
        return path
    os.makedirs(cache_dir(), exist_ok=True)
    with open(os.path.join(cache_dir(), "rootfs.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another checkout may be building the same one
        if os.path.isdir(path):
            return path
        partial = path + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        proc = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE, partial,
                               debian_mirror()], capture_output=True, text=True, check=False, timeout=900)
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr)[-3000:]
            raise RuntimeError("debootstrap failed (rc %d):\n%s" % (proc.returncode, output))
        _configure(partial)
        os.rename(partial, path)  # atomic: a cache directory is complete or absent
        return path


def _configure(root):
    """What a provisioned server has before Ansible first logs in: an admin account and sshd without passwords."""
    subprocess.run(["chroot", root, "useradd", "--create-home", "--shell", "/bin/bash", ADMIN], check=True)
    _write(root, "/etc/sudoers.d/%s" % ADMIN, "%s ALL=(ALL) NOPASSWD: ALL\n" % ADMIN, 0o440)
    _write(root, "/etc/ssh/sshd_config.d/10-keys-only.conf",
           "PasswordAuthentication no\nKbdInteractiveAuthentication no\n")
    for deb in glob.glob(os.path.join(root, "var/cache/apt/archives/*.deb")):
        os.unlink(deb)


def _write(root, path, text, mode=0o644, owner=None):
    target = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as handle:
        handle.write(text)
    os.chmod(target, mode)
    if owner:
        os.chown(target, *owner)


class SystemdHost(object):
    """One container booted from ``rootfs()`` on an overlay in *workdir*; ``close()`` powers it off and cleans up."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.lower = rootfs()
        # Unique: nspawn keeps per-machine state under /run/systemd/nspawn/ on the host.
        self.name = "netevents-%s" % uuid.uuid4().hex[:8]
        self.root = os.path.join(self.workdir, "root")
        self.ssh_port = free_port()
        self.ssh_key = os.path.join(self.workdir, "id_ed25519")
        self.console_log = os.path.join(self.workdir, "console.log")
        self.boots = 0
        self._nspawn = None
        self._pid1 = None
        # The container runs in a cgroup of its own: nspawn --keep-unit puts it in <own cgroup>/payload, and
        # every process here shares the root cgroup, so two containers would share one cgroup tree.
        self._cgroups = [os.path.join(mount, self.name) for mount in _cgroup_mounts()]
        self._mount_overlay()
        try:
            self._prepare()
        except BaseException:
            self._unmount()
            raise

    # -------------------------------------------------------------- set-up
    def _mount_overlay(self):
        for sub in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (
            self.lower, os.path.join(self.workdir, "upper"), os.path.join(self.workdir, "work")), self.root],
            check=True, capture_output=True, text=True)

    def _prepare(self):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netevents-tests", "-f", self.ssh_key],
                       check=True)
        with open(self.ssh_key + ".pub") as handle:
            public = handle.read()
        admin = _passwd_entry(self.root, ADMIN)
        home = os.path.join(self.root, admin["home"].lstrip("/"))
        os.makedirs(os.path.join(home, ".ssh"), mode=0o700, exist_ok=True)
        os.chown(os.path.join(home, ".ssh"), admin["uid"], admin["gid"])
        _write(self.root, admin["home"] + "/.ssh/authorized_keys", public, 0o600, (admin["uid"], admin["gid"]))
        # debootstrap copied the build host's name; sudo wants its own name to resolve.
        _write(self.root, "/etc/hostname", self.name + "\n")
        with open(os.path.join(self.root, "etc/hosts"), "a") as hosts:
            hosts.write("127.0.1.1\t%s\n" % self.name)
        _write(self.root, "/etc/ssh/sshd_config.d/05-listen.conf",
               "Port %d\nListenAddress 127.0.0.1\n" % self.ssh_port)
        # pip inside trusts what the host trusts (the host may reach its index through a TLS-inspecting proxy).
        for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf"):
            if os.path.exists(path):
                shutil.copyfile(path, self.root + path)

    # -------------------------------------------------------------- lifecycle
    def boot(self):
        """Start the container and wait until systemd says ``running`` and sshd accepts connections."""
        for path in self._cgroups:
            os.makedirs(path, exist_ok=True)
        cmd = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--machine=" + self.name,
               # pipe: the console goes to our log; "passive" leaves a pty nobody reads, which blocks systemd once full.
               "--console=pipe",
               # nspawn's seccomp filter refuses bpf(): without it systemd inside cannot apply IPAddressAllow/Deny.
               "--system-call-filter=bpf",
               "-D", self.root, "--boot"]
        log = open(self.console_log, "a")
        log.write("=== boot %d: %s\n" % (self.boots + 1, " ".join(cmd)))
        log.flush()
        self._nspawn = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=self._enter_cgroups, start_new_session=True)
        log.close()
        self.boots += 1
        deadline = time.monotonic() + BOOT_TIMEOUT
        state = "not started"
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                raise RuntimeError("systemd-nspawn exited with %s during boot:\n%s" % (self._nspawn.returncode,
                                                                                       self.console()))
            self._pid1 = self._pid1 or _child_of(self._nspawn.pid)
            if self._pid1:
                state = self.run("systemctl", "is-system-running", check=False).stdout.strip() or state
                if state in ("running", "degraded"):
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError("the container did not finish booting in %ss (state %s):\n%s" % (
                BOOT_TIMEOUT, state, self.console()))
        if state != "running":
            raise RuntimeError("the container booted %s:\n%s" % (state, self.run(
                "systemctl", "--failed", "--no-pager", check=False).stdout))
        while not _accepts(self.ssh_port):
            if time.monotonic() > deadline:
                raise RuntimeError("sshd does not listen on 127.0.0.1:%d:\n%s" % (
                    self.ssh_port, self.run("journalctl", "-u", "ssh", "--no-pager", check=False).stdout))
            time.sleep(0.2)
        return self

    def _enter_cgroups(self):
        for path in self._cgroups:
            with open(os.path.join(path, "cgroup.procs"), "w") as procs:
                procs.write("0")

    def reboot(self):
        """``systemctl reboot`` inside: nspawn ends with 133 ("reboot requested"), then the same overlay boots again."""
        self.run("systemctl", "reboot", check=False)
        code = self._wait_exit()
        if code != 133:
            raise RuntimeError("systemd-nspawn exited with %s, not 133, on reboot:\n%s" % (code, self.console()))
        return self.boot()

    def poweroff(self):
        if self._nspawn is None or self._nspawn.poll() is not None:
            return
        if self._pid1:
            self.run("systemctl", "poweroff", check=False)
        try:
            self._wait_exit()
        except subprocess.TimeoutExpired:
            # Killing the container's PID 1 ends its whole PID namespace; nspawn then exits.
            os.kill(self._pid1 or self._nspawn.pid, 9)
            self._nspawn.wait(timeout=STOP_TIMEOUT)

    def close(self):
        try:
            self.poweroff()
        finally:
            self._unmount()
            for path in self._cgroups:
                for sub, _dirs, _files in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
                    try:
                        os.rmdir(sub)
                    except OSError:
                        pass

    def _unmount(self):
        subprocess.run(["umount", self.root], check=False, capture_output=True)

    def _wait_exit(self):
        code = self._nspawn.wait(timeout=STOP_TIMEOUT)
        self._pid1 = None
        return code

    # -------------------------------------------------------------- use
    def run(self, *argv, check=True, timeout=120):
        """Run a command inside the container (its mount, UTS, IPC, network and PID namespaces)."""
        proc = subprocess.run(["nsenter", "-t", str(self._pid1), "-m", "-u", "-i", "-n", "-p", "--"] + list(argv),
                              env=CONTAINER_ENV, capture_output=True, text=True, check=False, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError("%s: rc %d\n%s%s" % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))
        return proc

    def inventory_vars(self):
        """Connection variables for Ansible: real SSH as the admin account, with the key made for this host."""
        return {
            "ansible_connection": "ssh",
            "ansible_host": "127.0.0.1",
            "ansible_port": self.ssh_port,
            "ansible_user": ADMIN,
            "ansible_ssh_private_key_file": self.ssh_key,
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            # One SSH round trip per task instead of several (Debian's sudo does not require a tty).
            "ansible_pipelining": True,
            "ansible_python_interpreter": "/usr/bin/python3",
        }

    def console(self):
        with open(self.console_log, errors="replace") as handle:
            return handle.read()[-4000:]


def _cgroup_mounts():
    """The cgroup hierarchies nspawn uses: the v2 one and v1's name=systemd (hybrid hosts have both)."""
    mounts = []
    with open("/proc/self/mounts") as handle:
        for line in handle:
            _dev, path, fstype, options = line.split()[:4]
            if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options.split(",")):
                mounts.append(path)
    return mounts


def _passwd_entry(root, user):
    with open(os.path.join(root, "etc/passwd")) as handle:
        for line in handle:
            fields = line.rstrip("\n").split(":")
            if fields[0] == user:
                return {"uid": int(fields[2]), "gid": int(fields[3]), "home": fields[5]}
    raise KeyError(user)


def _child_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as handle:
            children = handle.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
