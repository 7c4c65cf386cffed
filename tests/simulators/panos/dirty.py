"""Changed candidate nodes. In `get` answers PAN-OS marks what was changed since the last commit, and every node
above it, with ``admin="<who>" dirtyId="<n>" time="YYYY/MM/DD HH:MM:SS"``; the marks are gone once a commit has
taken the change to the running configuration (which never has them).

Seen in public captures: unchanged siblings stay unmarked, a node written by a merge and all of a new subtree
are marked, members included; an edited node is marked throughout. Not public: how dirtyId is numbered (here:
one number per configuration change, counting up) and what marks a deleted node leaves (here: its parents).
"""
import copy

MARKS = ("admin", "dirtyId", "time")


class Marker(object):
    """The marks of one configuration change."""

    def __init__(self, admin, dirty_id, when):
        self.values = (("admin", admin), ("dirtyId", str(dirty_id)), ("time", when))

    def node(self, element):
        for name, value in self.values:
            element.set(name, value)

    def subtree(self, element):
        for node in element.iter():
            if isinstance(node.tag, str):
                self.node(node)

    def upward(self, element):
        """*element* and every node above it but the root."""
        for node in [element] + list(element.iterancestors()):
            if node.getparent() is not None:
                self.node(node)


def strip(element):
    """Remove every mark under *element* (in place); return it."""
    for node in element.iter():
        if isinstance(node.tag, str):
            for name in MARKS:
                node.attrib.pop(name, None)
    return element


def unmarked(config):
    """A copy of *config* without marks (the running configuration a commit makes of it)."""
    return strip(copy.deepcopy(config))


def is_marked(config):
    return bool(config.xpath("//*[@dirtyId]"))


def clear_committed(config, dirty_id):
    """Remove the marks of changes up to *dirty_id* (the ones a commit has just taken): later ones stay."""
    for node in config.xpath("//*[@dirtyId]"):
        if int(node.get("dirtyId")) <= dirty_id:
            for name in MARKS:
                node.attrib.pop(name, None)
