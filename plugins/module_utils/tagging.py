# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nutanix categories -> PAN-OS tags: one mapping for the listener's panos plugin, the EDA source and vm_tag_sync.

So all of them agree on what the firewall should hold. The tagger only ever touches the tags it owns (its prefix
and its mapping table): tags registered by other systems on the same IPs are left alone. Whether a tag name is
valid is PAN-OS's rule, kept in one place: module_utils/panos.validate_name.

Several Prism Centrals can feed one firewall: a tag name can carry the Prism's name (``{pc}``, given by the user)
and the VM's cluster (``{cluster}``). With ``{pc}`` the owned prefix is each Prism's own (``ntnx.PC-A.`` for Prism
A with the panorama-plugin format), so a reconcile for one Prism never removes another's tags, and an IP that
two Prisms report carries the tags of both. See docs/multi-prism.md.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import string

from ansible_collections.netevents.nutanix.plugins.module_utils.panos import validate_name

DEFAULT_TAG_FORMAT = "ntnx.{category}.{value}"
# Named formats a user can give as tag_format. panorama-plugin: the names Palo Alto's Panorama plugin for Nutanix
# gives, so dynamic address groups written for it match these tags too.
TAG_FORMAT_PRESETS = {"panorama-plugin": "ntnx.PC-{pc}.CL-{cluster}.{category}.{value}"}
PLACEHOLDERS = ("pc", "cluster", "category", "value")
# What {cluster} gives for a VM whose cluster Prism does not name at all (with only its uuid: the uuid).
UNKNOWN_CLUSTER = "unknown"
# Characters a category name or value may bring into a tag. Anything else becomes "_", so that no category can
# carry quotes, XML or XPath syntax to the firewall, and a generated tag needs no quoting in a dynamic group's
# filter (PAN-OS itself would accept inner spaces).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
# A Prism's name is used as it is (two names must never sanitise to the same tag), so it must already be safe.
_PRISM_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_SAMPLE = {"pc": "PC1", "cluster": "Cluster1", "category": "AppTier", "value": "Web"}


class TagError(ValueError):
    """Tag settings that cannot give valid PAN-OS tags; ``problems`` lists (setting, message) for each."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join("%s: %s" % problem for problem in self.problems))


def sanitize(part):
    return _UNSAFE.sub("_", str(part).strip())


def _parse(template, allowed):
    """[(literal text, placeholder or None)] of a tag template; ValueError saying what is wrong with it."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError("%r is not valid (%s)" % (template, e))
    for _literal, field, spec, conversion in parts:
        if field is not None and field not in allowed:
            raise ValueError("%r is not valid: only %s may be used" % (
                template, ", ".join("{%s}" % p for p in allowed)))
        if spec or conversion:
            raise ValueError("%r is not valid: {%s} takes no conversion or format spec" % (template, field))
    return [(literal, field) for literal, field, _spec, _conversion in parts]


def _fill(parts, values):
    return "".join(literal + (values[field] if field else "") for literal, field in parts)


def _owned_part(parts, what):
    """(parts, separator): the owned prefix of a template, still with its {pc}, and the character after {pc}.

    With {pc}: the text up to it, {pc} and the one character after it (``ntnx.PC-{pc}.``); no Prism name may
    contain that character, so that no Prism's prefix starts another's. Without: the text before the first
    placeholder (separator None). ValueError when {pc} is there twice or has nothing after it.
    """
    fields = [field for _literal, field in parts]
    if fields.count("pc") > 1:
        raise ValueError("%s may name {pc} only once" % what)
    owned = []
    for i, (literal, field) in enumerate(parts):
        if field == "pc":
            following = parts[i + 1][0] if i + 1 < len(parts) else ""
            if not following:
                raise ValueError("%s must have a separator such as '.' right after {pc}, or the tags of Prism 'A' "
                                 "would start like those of Prism 'AB'" % what)
            return owned + [(literal, "pc"), (following[0], None)], following[0]
        owned.append((literal, None))
        if field is not None:
            break
    return owned, None


def placeholders(tag_format):
    """The placeholders a tag format (or preset) names, e.g. {"category", "value"}; empty when it cannot be read."""
    try:
        return set(f for _l, f in _parse(TAG_FORMAT_PRESETS.get(tag_format, tag_format), PLACEHOLDERS) if f)
    except (TypeError, ValueError):
        return set()


def _format_problem(tag_format):
    if not isinstance(tag_format, str):
        return "must be a string, not %r" % (tag_format,)
    try:
        parts = _parse(tag_format, PLACEHOLDERS)
    except ValueError as e:
        return str(e)
    fields = [field for _literal, field in parts if field]
    if "category" not in fields and "value" not in fields:
        return "%r must contain {category} or {value}" % (tag_format,)
    if "pc" in fields and fields[0] != "pc":
        return ("%r must name {pc} before {cluster}, {category} and {value}, so that the tags of each Prism start "
                "with a text of their own" % (tag_format,))
    try:
        _owned_part(parts, "%r" % (tag_format,))
    except ValueError as e:
        return str(e)
    try:
        validate_name(_fill(parts, _SAMPLE), "tag")
    except ValueError as e:
        return "%r makes tag names PAN-OS refuses: for %s:%s, %s" % (
            tag_format, _SAMPLE["category"], _SAMPLE["value"], e)
    return None


class TagMapper(object):
    """Which tags a VM's categories give, and which tags are ours (one Prism's, when the format names {pc}).

    tag_format   -- a format, or a preset's name (TAG_FORMAT_PRESETS). "{category}" and "{value}" are replaced by
                    the VM's category name and value, "{cluster}" by its cluster's name (its uuid when Prism names
                    none, "unknown" without either), all sanitised; "{pc}" by *prism_name*.
    mapping      -- explicit table {"Category:Value": "tag"} (or a list of tags) that wins over the format; a tag
                    may name "{pc}".
    categories   -- only these category names are mapped (default: all).
    owned_prefix -- tags starting with it are ours; it may name "{pc}". Default: the format's text before its first
                    placeholder; with {pc}, the text up to {pc}, the Prism's name and the character after it
                    (``ntnx.PC-A.`` for Prism A with the panorama-plugin preset).
    prism_name   -- the name the user gives the Prism Central these VMs come from; needed when anything names
                    {pc}. When the format names {pc} (``per_prism``), so must owned_prefix, and every mapped tag
                    must start with the owned prefix: then everything a Prism owns starts with a text no other
                    Prism's tags start with.
    Raises TagError naming every setting of the wrong type or that cannot give a valid tag.
    """

    def __init__(self, tag_format=DEFAULT_TAG_FORMAT, mapping=None, categories=None, owned_prefix=None,
                 prism_name=None):
        problems = []
        if isinstance(tag_format, str):
            tag_format = TAG_FORMAT_PRESETS.get(tag_format, tag_format)
        problem = _format_problem(tag_format)
        if problem:
            problems.append(("tag_format", problem))
        self.tag_format = tag_format
        self._parts = [] if problem else _parse(tag_format, PLACEHOLDERS)
        fields = placeholders(tag_format) if not problem else set()
        self.per_prism = "pc" in fields
        self._uses_cluster = "cluster" in fields
        self.prism_name = prism_name
        if prism_name is not None and (not isinstance(prism_name, str) or not _PRISM_NAME.match(prism_name)):
            problems.append(("prism_name", "%r is not a valid Prism name: use letters, digits, '_', '-' and '.'"
                             % (prism_name,)))
            prism_name = None
        elif prism_name is None and self.per_prism:
            problems.append(("prism_name", "tag_format names {pc}, so give the name of the Prism Central the VMs "
                                           "come from (the same name on every run for that Prism)"))
        elif self.per_prism:
            try:
                validate_name(_fill(self._parts, dict(_SAMPLE, pc=prism_name)), "tag")
            except ValueError as e:
                problems.append(("prism_name", "%r makes tag names PAN-OS refuses: %s" % (prism_name, e)))
                prism_name = None

        if categories is not None and not (isinstance(categories, list)
                                           and all(isinstance(c, str) and c for c in categories)):
            problems.append(("categories", "must be a list of category names"))
        self.categories = None if categories is None else set(categories)

        self.owned_prefix = None
        if owned_prefix is not None and (not isinstance(owned_prefix, str) or not owned_prefix.strip()):
            problems.append(("owned_prefix", "must be a non-empty string"))
        elif not problem:
            self.owned_prefix = self._owned_prefix(problems, owned_prefix, prism_name)

        if mapping is not None and not isinstance(mapping, dict):
            problems.append(("tag_mapping", "must be a mapping of 'Category:Value' to a tag or a list of tags"))
            mapping = None
        self.mapping = {}
        for key, tags in (mapping or {}).items():
            where = "tag_mapping.%s" % (key,)
            tags = [tags] if isinstance(tags, str) else tags
            if not isinstance(key, str) or ":" not in key:
                problems.append((where, "a key looks like 'Category:Value'"))
            elif not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
                problems.append((where, "must be a tag or a list of tags"))
            else:
                self.mapping[key] = [self._mapped_tag(problems, where, tag, prism_name) for tag in tags]
        self._mapped_tags = set(t for tags in self.mapping.values() for t in tags if t is not None)
        if not problems and not self.owned_prefix and not self._mapped_tags:
            problems.append(("owned_prefix", "the tag format has no fixed prefix, so set owned_prefix: without "
                                             "it the tagger could remove tags that other systems registered"))
        if problems:
            raise TagError(problems)
        # {"Category:Value": why} of the pairs that gave no valid tag: after tags_for(vm), exactly those of that VM
        # that gave none (with {cluster}, a pair can be too long on one cluster and fit on another), and those of
        # earlier VMs that gave none since.
        self.rejected = {}

    def _owned_prefix(self, problems, template, pc):
        """The owned prefix with {pc} filled in (None, with a problem noted, when it cannot be)."""
        try:
            if template is None:
                parts, separator = _owned_part(self._parts, "tag_format")
            else:
                parts = _parse(template, ("pc",))
                separator = _owned_part(parts, "owned_prefix")[1]
                if self.per_prism and separator is None:
                    raise ValueError("tag_format names {pc}, so this must name it too (e.g. %r): else a run for one "
                                     "Prism could remove another Prism's tags"
                                     % _fill(_owned_part(self._parts, "tag_format")[0], {"pc": "{pc}"}))
                if separator is not None and not self.per_prism:
                    raise ValueError("names {pc} but tag_format does not: no tag would start with it")
        except ValueError as e:
            problems.append(("owned_prefix", str(e)))
            return None
        if separator is not None and pc is not None and separator in pc:
            problems.append(("prism_name", "%r may not contain %r, the character after {pc} in %s: its tags would "
                                           "start like another Prism's" % (
                                               pc, separator, "owned_prefix" if template else "tag_format")))
            return None
        return None if separator is not None and pc is None else _fill(parts, {"pc": pc})

    def _mapped_tag(self, problems, where, template, pc):
        """A tag of the mapping table with {pc} filled in (None, with a problem noted, when it cannot be)."""
        try:
            parts = _parse(template, ("pc",))
            if pc is None and any(field == "pc" for _literal, field in parts):
                if self.prism_name is None and not self.per_prism:  # else said once, under prism_name
                    raise ValueError("%r names {pc}, so give prism_name" % (template,))
                return None
            tag = validate_name(_fill(parts, {"pc": pc}), "tag")
            if self.per_prism and self.owned_prefix and not tag.startswith(self.owned_prefix):
                raise ValueError("%r must start with the owned prefix (%r here), so that it belongs to this Prism "
                                 "alone" % (template, self.owned_prefix))
            return tag
        except ValueError as e:
            problems.append((where, str(e)))
            return None

    def tags_for(self, vm):
        """The set of tags for a VM: a VmState or VmEvent (its categories, cluster_name and cluster_uuid)."""
        values = {"pc": self.prism_name}
        if self._uses_cluster:
            values["cluster"] = sanitize(vm.cluster_name or vm.cluster_uuid or UNKNOWN_CLUSTER)
        tags = set()
        for name, value in sorted((vm.categories or {}).items()):
            if self.categories is not None and name not in self.categories:
                continue
            key = "%s:%s" % (name, value)
            if key in self.mapping:
                tags.update(self.mapping[key])
                continue
            values.update(category=sanitize(name), value=sanitize(value))
            try:
                tags.add(validate_name(_fill(self._parts, values), "tag"))
                self.rejected.pop(key, None)
            except ValueError as e:
                self.rejected[key] = str(e)
        return tags

    def owns(self, tag):
        return tag in self._mapped_tags or bool(self.owned_prefix) and tag.startswith(self.owned_prefix)


def desired_ip_tags(vm_states, mapper, only_powered_on=True):
    """{ip: set(tags)} for the VMs that should be visible to the firewall."""
    desired = {}
    for vm in vm_states:
        if only_powered_on and vm.power_state != "ON":
            continue
        tags = mapper.tags_for(vm)
        if not tags:
            continue
        for ip in vm.ips:
            desired.setdefault(ip, set()).update(tags)
    return desired
