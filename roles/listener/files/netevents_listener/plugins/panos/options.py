# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The panos plugin's options, checked with the plugin API's Checker (the configuration loader's own)."""
import os

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import DEFAULT_TAG_FORMAT, TagError, TagMapper

from ...api import Checker, Secret

MODES = ("registered-ip", "address-object")
OPTIONS = ("targets", "mode", "tag_format", "tag_mapping", "categories", "owned_prefix", "tag_timeout",
           "state_path", "address_prefix", "commit_timeout", "api_timeout", "wait_for_ip_attempts")
TARGET_KEYS = ("ip_address", "port", "username", "password", "api_key", "vsys", "validate_certs", "ca_path",
               # resolved into password/api_key by the loader; listed for its "did you mean"
               "password_file", "password_env", "api_key_file", "api_key_env")
MAX_TAG_TIMEOUT = 2592000  # 30 days, PAN-OS's limit for a registered tag's timeout
# The longest address text; an address object's name is address_prefix + the address.
_LONGEST_IP = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"


def check_options(options, config):
    """The options with their defaults; raises ConfigError naming every problem."""
    c = Checker.for_config(config)
    c.unknown_keys("", options, OPTIONS)
    if getattr(config, "prism", None) is None:
        c.error("prism", "the panos plugin needs the 'prism' section: it reads VMs the events do not describe "
                         "fully, and the reconcile lists them all")
    targets = options.get("targets")
    if not isinstance(targets, list) or not targets:
        c.error("targets", "give a list of at least one firewall (ip_address, username, password_file or "
                           "api_key_file, ...)")
        targets = []
    out = {"targets": [_target(c, "targets[%d]" % i, target) for i, target in enumerate(targets)]}
    labels = [(t["ip_address"], t["port"], t["vsys"]) for t in out["targets"] if t]
    if len(set(labels)) != len(labels):
        c.error("targets", "the same firewall (ip_address, port, vsys) is listed twice")
    out["mode"] = c.choice("mode", options.get("mode", "registered-ip"), MODES)
    out.update(tag_format=options.get("tag_format", DEFAULT_TAG_FORMAT), tag_mapping=options.get("tag_mapping"),
               categories=options.get("categories") or None, owned_prefix=options.get("owned_prefix"))
    try:
        TagMapper(out["tag_format"], out["tag_mapping"], out["categories"], out["owned_prefix"])
    except TagError as e:
        for option, message in e.problems:
            c.error(option, message)
    out["tag_timeout"] = c.integer("tag_timeout", options.get("tag_timeout", 0), 0, MAX_TAG_TIMEOUT)
    reconcile = getattr(config, "reconcile", None)
    interval = (reconcile.interval_minutes or 0) * 60 if reconcile is not None else 0
    if out["tag_timeout"] and (not interval or out["tag_timeout"] < 2 * interval):
        c.error("tag_timeout", "registered tags that expire need the reconcile to renew them: set "
                               "reconcile.interval_minutes to at most half of tag_timeout (%d s), or tag_timeout: 0"
                % out["tag_timeout"])
    state_path = options.get("state_path")
    out["state_path"] = None if state_path is None else c.string("state_path", state_path)
    out["address_prefix"] = c.string("address_prefix", options.get("address_prefix", "ntnx-vm-"))
    if out["address_prefix"] is not None:
        try:
            panos_api.address_name(out["address_prefix"], _LONGEST_IP)
        except ValueError as e:
            c.error("address_prefix", "%s (the prefix plus the longest IPv6 address must fit)" % e)
    out["commit_timeout"] = c.integer("commit_timeout", options.get("commit_timeout", 600), 10, 3600)
    out["api_timeout"] = c.integer("api_timeout", options.get("api_timeout", 30), 1, 600)
    out["wait_for_ip_attempts"] = c.integer("wait_for_ip_attempts", options.get("wait_for_ip_attempts", 3), 0, 100)
    c.done()
    return out


def _target(c, where, target):
    """One firewall: the provider of module_utils/panos.connect, plus its vsys."""
    if not isinstance(target, dict):
        c.error(where, "must be a mapping (ip_address, port, username, password_file, ...), got %r" % (target,))
        return None
    c.unknown_keys(where, target, TARGET_KEYS)
    out = {"ip_address": c.string(where + ".ip_address", c.required(where, target, "ip_address")),
           "port": c.integer(where + ".port", target.get("port", 443), 1, 65535),
           "username": c.string(where + ".username", target.get("username", "admin")),
           "validate_certs": c.boolean(where + ".validate_certs", target.get("validate_certs", True)),
           "vsys": None, "ca_path": None}
    try:
        out["vsys"] = panos_api.validate_vsys(target.get("vsys", "vsys1"))
    except ValueError as e:
        c.error(where + ".vsys", str(e))
    for name in ("password", "api_key"):
        if isinstance(target.get(name), Secret):  # the loader refuses a secret written in the file itself
            out[name] = target[name]
    if "password" not in out and "api_key" not in out:
        c.error(where, "give password_file/password_env or api_key_file/api_key_env")
    if target.get("ca_path") is not None:
        path = c.string(where + ".ca_path", target["ca_path"])
        if path is not None:
            out["ca_path"] = c.path(path)
            if not os.path.exists(out["ca_path"]):
                c.error(where + ".ca_path", "%s does not exist" % out["ca_path"])
    return out
