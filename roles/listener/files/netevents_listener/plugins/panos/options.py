# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The panos plugin's options, checked with the plugin API's Checker (the configuration loader's own)."""
import os

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import (
    DEFAULT_TAG_FORMAT, TAG_FORMAT_PRESETS, TagError, TagMapper, placeholders)

from ...api import Checker, Secret

MODES = ("registered-ip", "address-object")
MAX_TAG_TIMEOUT = 2592000  # 30 days, PAN-OS's limit for a registered tag's timeout
MAX_CAPACITY = 10000000    # registered IPs: far above any platform's (500,000)
# Checked by Checker.options; targets, categories and tag_mapping are checked below.
OPTIONS = {
    "mode": {"choices": MODES, "default": "registered-ip"},
    "tag_format": {"default": DEFAULT_TAG_FORMAT}, "owned_prefix": {},
    "tag_timeout": {"type": "int", "default": 0, "range": (0, MAX_TAG_TIMEOUT)},
    "state_path": {}, "address_prefix": {"default": "ntnx-vm-"},
    "commit_timeout": {"type": "int", "default": 600, "range": (10, 3600)},
    "api_timeout": {"type": "int", "default": 30, "range": (1, 600)},
    "wait_for_ip_s": {"type": "int", "default": 300, "range": (0, 86400)},
    "trust_payload": {"type": "bool", "default": False},
    "probe_initial_s": {"type": "float", "default": 1.0, "range": (0.01, 3600)},
    "probe_max_s": {"type": "float", "default": 60.0, "range": (0.01, 86400)},
    "registered_ip_capacity": {"type": "int", "range": (1, MAX_CAPACITY)},
}
TARGET = {
    "ip_address": {"required": True}, "port": {"type": "int", "default": 443, "range": (1, 65535)},
    "username": {"default": "admin"}, "vsys": {"default": "vsys1"}, "validate_certs": {"type": "bool", "default": True},
    "ca_path": {}, "registered_ip_capacity": {"type": "int", "range": (1, MAX_CAPACITY)},
}
# Resolved into password/api_key (Secrets) by the loader; listed for its "did you mean".
_TARGET_SECRETS = ("password", "api_key", "password_file", "password_env", "api_key_file", "api_key_env")
# The longest address text; an address object's name is address_prefix + the address.
_LONGEST_IP = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"


def check_options(options, config):
    """The options with their defaults; raises ConfigError naming every problem."""
    c = Checker.for_config(config)
    out = c.options(options, OPTIONS, also=("targets", "tag_mapping", "categories"))
    if getattr(config, "prism", None) is None:
        c.error("prism", "the panos plugin needs the 'prism' section: it reads VMs the events do not describe "
                         "fully, and the reconcile lists them all")
    targets = options.get("targets")
    if not isinstance(targets, list) or not targets:
        c.error("targets", "give a list of at least one firewall (ip_address, username, password_file or "
                           "api_key_file, ...)")
        targets = []
    out["targets"] = [_target(c, "targets[%d]" % i, target) for i, target in enumerate(targets)]
    labels = [(t["ip_address"], t["port"], t["vsys"]) for t in out["targets"] if t]
    if len(set(labels)) != len(labels):
        c.error("targets", "the same firewall (ip_address, port, vsys) is listed twice")
    out.update(tag_mapping=options.get("tag_mapping"), categories=options.get("categories") or None)
    if out["tag_format"] is not None:
        _check_tags(c, out, config)
    reconcile = getattr(config, "reconcile", None)
    interval = (reconcile.interval_minutes or 0) * 60 if reconcile is not None else 0
    if out["tag_timeout"] and (not interval or out["tag_timeout"] < 2 * interval):
        c.error("tag_timeout", "registered tags that expire need the reconcile to renew them: set "
                               "reconcile.interval_minutes to at most half of tag_timeout (%d s), or tag_timeout: 0"
                % out["tag_timeout"])
    if out["probe_initial_s"] and out["probe_max_s"] and out["probe_max_s"] < out["probe_initial_s"]:
        c.error("probe_max_s", "must not be smaller than probe_initial_s")
    if out["address_prefix"] is not None:
        try:
            panos_api.address_name(out["address_prefix"], _LONGEST_IP)
        except ValueError as e:
            c.error("address_prefix", "%s (the prefix plus the longest IPv6 address must fit)" % e)
    c.done()
    return out


def _check_tags(c, out, config):
    """The tag settings with each Prism's name ({pc}): one TagMapper per Prism, as the plugin makes them."""
    prisms = [p for p in getattr(config, "prisms", None) or [getattr(config, "prism", None)] if p is not None]
    names = [getattr(p, "name", None) or "default" for p in prisms] or [None]
    if len(names) > 1 and "pc" not in placeholders(TAG_FORMAT_PRESETS.get(out["tag_format"], out["tag_format"])):
        # One format without {pc} gives every Prism the same owned prefix: each one's reconcile would remove the
        # others' tags (docs/multi-prism.md).
        c.error("tag_format", "with several Prisms (%s) the format must name {pc}, so that each Prism owns only its "
                              "own tags: e.g. tag_format: panorama-plugin (ntnx.PC-{pc}.CL-{cluster}.{category}."
                              "{value}) or ntnx.{pc}.{category}.{value}" % ", ".join(names))
        return
    seen = set()
    for prism, name in zip(prisms or [None], names):
        try:
            TagMapper(out["tag_format"], out["tag_mapping"], out["categories"], out["owned_prefix"], prism_name=name)
        except TagError as e:
            for option, message in e.problems:
                where = getattr(prism, "where", "prism") if option == "prism_name" else option
                if option == "prism_name":
                    message = "name %s" % message
                if (where, message) not in seen:
                    seen.add((where, message))
                    c.error(where, message)


def _target(c, where, target):
    """One firewall: the provider of module_utils/panos.connect, plus its vsys."""
    if not isinstance(target, dict):
        c.error(where, "must be a mapping (ip_address, port, username, password_file, ...), got %r" % (target,))
        return None
    out = c.options(target, TARGET, where, also=_TARGET_SECRETS)
    if out["vsys"] is not None:
        try:
            panos_api.validate_vsys(out["vsys"])
        except ValueError as e:
            c.error(where + ".vsys", str(e))
    for name in ("password", "api_key"):
        if isinstance(target.get(name), Secret):  # the loader refuses a secret written in the file itself
            out[name] = target[name]
    if "password" not in out and "api_key" not in out:
        c.error(where, "give password_file/password_env or api_key_file/api_key_env")
    if out["ca_path"] is not None:
        out["ca_path"] = c.path(out["ca_path"])
        if not os.path.exists(out["ca_path"]):
            c.error(where + ".ca_path", "%s does not exist" % out["ca_path"])
    return out
