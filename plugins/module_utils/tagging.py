# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nutanix categories -> PAN-OS tags: one mapping for the listener's panos plugin, the EDA source and vm_tag_sync.

So all of them agree on what the firewall should hold. The tagger only ever touches the tags it owns (its prefix
and its mapping table): tags registered by other systems on the same IPs are left alone. Whether a tag name is
valid is PAN-OS's rule, kept in one place: module_utils/panos.validate_name.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.netevents.nutanix.plugins.module_utils.panos import validate_name

DEFAULT_TAG_FORMAT = "ntnx.{category}.{value}"
# Characters a category name or value may bring into a tag. Anything else becomes "_", so that no category can
# carry quotes, XML or XPath syntax to the firewall, and a generated tag needs no quoting in a dynamic group's
# filter (PAN-OS itself would accept inner spaces).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_SAMPLE = ("AppTier", "Web")


class TagError(ValueError):
    """Tag settings that cannot give valid PAN-OS tags; ``problems`` lists (setting, message) for each."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join("%s: %s" % problem for problem in self.problems))


def sanitize(part):
    return _UNSAFE.sub("_", str(part).strip())


def _format_problem(tag_format):
    if not isinstance(tag_format, str) or ("{category}" not in tag_format and "{value}" not in tag_format):
        return "%r must contain {category} or {value}" % (tag_format,)
    try:
        sample = tag_format.format(category=_SAMPLE[0], value=_SAMPLE[1])
    except (KeyError, IndexError, ValueError) as e:
        return "%r is not valid: only {category} and {value} may be used (%s)" % (tag_format, e)
    try:
        validate_name(sample, "tag")
    except ValueError as e:
        return "%r makes tag names PAN-OS refuses: for %s:%s, %s" % ((tag_format,) + _SAMPLE + (e,))
    return None


class TagMapper(object):
    """Which tags a VM's categories give, and which tags are ours.

    tag_format  -- "{category}" and "{value}" are replaced by the sanitised category name and value.
    mapping     -- explicit table {"Category:Value": "tag"} (or a list of tags) that wins over the format.
    categories  -- only these category names are mapped (default: all).
    owned_prefix -- tags starting with it are ours; default: the format's text before its first "{".
    Raises TagError naming every setting of the wrong type or that cannot give a valid tag.
    """

    def __init__(self, tag_format=DEFAULT_TAG_FORMAT, mapping=None, categories=None, owned_prefix=None):
        problems = []
        problem = _format_problem(tag_format)
        if problem:
            problems.append(("tag_format", problem))
        self.tag_format = tag_format
        if categories is not None and not (isinstance(categories, list)
                                           and all(isinstance(c, str) and c for c in categories)):
            problems.append(("categories", "must be a list of category names"))
        self.categories = None if categories is None else set(categories)
        if mapping is not None and not isinstance(mapping, dict):
            problems.append(("tag_mapping", "must be a mapping of 'Category:Value' to a tag or a list of tags"))
            mapping = None
        self.mapping = {}
        for key, tags in (mapping or {}).items():
            where = "tag_mapping.%s" % (key,)
            tags = [tags] if isinstance(tags, str) else tags
            if not isinstance(key, str) or ":" not in key:
                problems.append((where, "a key looks like 'Category:Value'"))
            elif not isinstance(tags, list) or not tags:
                problems.append((where, "must be a tag or a list of tags"))
            else:
                self.mapping[key] = tags
                for tag in tags:
                    try:
                        validate_name(tag, "tag")
                    except ValueError as e:
                        problems.append((where, str(e)))
        self._mapped_tags = set(t for tags in self.mapping.values() for t in tags)
        if owned_prefix is not None and (not isinstance(owned_prefix, str) or not owned_prefix.strip()):
            problems.append(("owned_prefix", "must be a non-empty string"))
        elif owned_prefix is None and not problems:
            owned_prefix = tag_format.split("{", 1)[0]
            if not owned_prefix and not self._mapped_tags:
                problems.append(("owned_prefix", "the tag format has no fixed prefix, so set owned_prefix: without "
                                                 "it the tagger could remove tags that other systems registered"))
        self.owned_prefix = owned_prefix
        if problems:
            raise TagError(problems)
        # {"Category:Value": why} of the pairs that gave no valid tag (too long, bad first character)
        self.rejected = {}

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
            try:
                tags.add(validate_name(tag, "tag"))
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
        tags = mapper.tags_for(vm.categories)
        if not tags:
            continue
        for ip in vm.ips:
            desired.setdefault(ip, set()).update(tags)
    return desired
