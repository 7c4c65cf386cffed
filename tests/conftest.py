"""Make the collection importable as ansible_collections.netevents.nutanix from a plain checkout.

A checkout is not laid out as ansible_collections/netevents/nutanix, so (like the Makefile) we keep a symlinked
tree in .collections/ and put it on sys.path; simulators are imported as ``tests.simulators.*``.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_root():
    # Already inside an ansible_collections tree (ansible-test, make tree, an installed collection)?
    parts = REPO.split(os.sep)
    if len(parts) > 3 and parts[-3] == "ansible_collections":
        return os.sep.join(parts[:-3])
    root = os.path.join(REPO, ".collections")
    link = os.path.join(root, "ansible_collections", "netevents", "nutanix")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    return root


COLLECTIONS_ROOT = _collections_root()
for path in (COLLECTIONS_ROOT, REPO):
    if path not in sys.path:
        sys.path.insert(0, path)
