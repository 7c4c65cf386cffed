#!/usr/bin/env python
"""Offline stand-in for the get-pip.py that ansible-test downloads to bootstrap pip in its venvs.

These machines cannot reach the host ansible-test fetches get-pip from. Run with ``--install`` to place
this file where ansible-test caches the download; ansible-test then runs it with pip's arguments.
ensurepip runs in a child process: in-process it sets PIP_CONFIG_FILE=/dev/null and pip would lose
the CA settings from /etc/pip.conf.
"""
import os
import shutil
import subprocess
import sys

CACHE = os.path.expanduser("~/.ansible/test/cache/get_pip_24_2.py")
DROPPED = {"--no-setuptools", "--no-wheel"}


def install():
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    shutil.copyfile(__file__, CACHE)


def main(args):
    if args == ["--install"]:
        install()
        return 0
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    pip_args = [a for a in args if a not in DROPPED]
    return subprocess.call([sys.executable, "-m", "pip", "install"] + pip_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
