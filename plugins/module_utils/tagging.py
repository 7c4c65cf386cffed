# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nutanix categories -> PAN-OS tags, and the registered-IP reconcile plan.

One mapping and one plan for the listener's panos plugin and the vm_tag_sync module, so both agree on
what the firewall should hold. The tagger only ever touches the tags it owns (its prefix and its
mapping table): tags registered by other systems on the same IPs are left alone.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DEFAULT_TAG_FORMAT = "ntnx.{category}.{value}"
MAX_TAG_LENGTH = 127
# Characters we let through into a tag name. Anything else becomes "_" so that no category value can
# carry quotes, XML or XPath syntax to the firewall, and dynamic-group filters need no quoting.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
# As module_utils/panos.validate_name: PAN-OS names start with a letter, digit or underscore.
TAG_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,%d}$" % (MAX_TAG_LENGTH - 1))


class TagError(ValueError):
    """A tag format or mapping that cannot produce valid PAN-OS tag names."""


def sanitize(part):
    return _UNSAFE.sub("_", str(part).strip())


def check_tag(tag):
    """Return *tag* when it is a safe PAN-OS tag name, else raise TagError."""
    if not isinstance(tag, str) or not TAG_NAME_RE.match(tag):
        raise TagError(
            "%r is not a valid tag name: use 1-%d characters from letters, digits, '.', '_' and '-', "
            "starting with a letter, digit or '_'"
            % (tag, MAX_TAG_LENGTH))
    return tag


class TagMapper(object):
    """Which tags a VM's categories give, and which tags are ours.

    tag_format  -- "{category}" and "{value}" are replaced by the sanitised category name and value.
    mapping     -- explicit table {"Category:Value": "tag"} (or a list of tags) that wins over the format.
    categories  -- only these category names are mapped (default: all).
    owned_prefix -- tags starting with it are ours; default: the format's text before its first "{".
    """

    def __init__(self, tag_format=DEFAULT_TAG_FORMAT, mapping=None, categories=None, owned_prefix=None):
        if "{category}" not in tag_format and "{value}" not in tag_format:
            raise TagError("tag_format %r must contain {category} or {value}" % (tag_format,))
        try:
            tag_format.format(category="c", value="v")
        except (KeyError, IndexError, ValueError) as e:
            raise TagError("tag_format %r is not valid: only {category} and {value} may be used (%s)"
                           % (tag_format, e))
        self.tag_format = tag_format
        self.categories = None if categories is None else set(categories)
        self.mapping = {}
        for key, tags in (mapping or {}).items():
            if not isinstance(key, str) or ":" not in key:
                raise TagError("mapping key %r must look like 'Category:Value'" % (key,))
            tags = [tags] if isinstance(tags, str) else list(tags)
            self.mapping[key] = [check_tag(t) for t in tags]
        if owned_prefix is None:
            owned_prefix = tag_format.split("{", 1)[0]
        self.owned_prefix = owned_prefix
        self._mapped_tags = set(t for tags in self.mapping.values() for t in tags)
        self.rejected = set()  # category pairs that gave no valid tag (too long, bad first character)
        if not owned_prefix and not self._mapped_tags:
            raise TagError("the tag format has no fixed prefix, so set owned_prefix: "
                           "without it the tagger could remove tags that other systems registered")

    def tags_for(self, categories):
        """The set of tags for a VM with these categories ({name: value})."""
        tags = set()
        for name, value in sorted((categories or {}).items()):
            if self.categories is not None and name not in self.categories:
                continue
            key = "%s:%s" % (name, value)
            if key in self.mapping:
                tags.update(self.mapping[key])
                continue
            tag = self.tag_format.format(category=sanitize(name), value=sanitize(value))
            if TAG_NAME_RE.match(tag):
                tags.add(tag)
            else:
                self.rejected.add(key)
        return tags

    def owns(self, tag):
        return tag in self._mapped_tags or bool(self.owned_prefix) and tag.startswith(self.owned_prefix)


def desired_ip_tags(vm_states, mapper, only_powered_on=True):
    """{ip: set(tags)} for the VMs that should be visible to the firewall."""
    desired = {}
    for vm in vm_states:
        if only_powered_on and vm.power_state != "ON":
            continue
        tags = mapper.tags_for(vm.categories)
        if not tags:
            continue
        for ip in vm.ips:
            desired.setdefault(ip, set()).update(tags)
    return desired


class Plan(object):
    """What to register and unregister so the firewall's owned tags equal the desired ones."""

    def __init__(self, register, unregister, unchanged):
        self.register = register  # {ip: set(tags)}
        self.unregister = unregister  # {ip: set(tags)}
        self.unchanged = unchanged  # IPs whose owned tags are already right

    @property
    def changed(self):
        return bool(self.register or self.unregister)

    @property
    def added(self):
        return sum(len(t) for t in self.register.values())

    @property
    def removed(self):
        return sum(len(t) for t in self.unregister.values())

    def summary(self):
        return {"added": self.added, "removed": self.removed, "unchanged": self.unchanged,
                "ips_registered": len(self.register), "ips_unregistered": len(self.unregister)}


def plan(desired, current, mapper, scope=None):
    """Compare desired {ip: tags} with the firewall's current {ip: tags}, on owned tags only.

    scope -- when given, only these IPs are considered (an event's VM); otherwise the whole table.
    """
    register, unregister, unchanged = {}, {}, 0
    ips = set(desired) | set(current)
    if scope is not None:
        ips &= set(scope)
    for ip in sorted(ips):
        want = set(desired.get(ip, ()))
        have = set(t for t in current.get(ip, ()) if mapper.owns(t))
        if want - have:
            register[ip] = want - have
        if have - want:
            unregister[ip] = have - want
        if want and want == have:
            unchanged += 1
    return Plan(register, unregister, unchanged)
