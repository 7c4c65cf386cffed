"""The part of the PAN-OS 10.2 schema the simulator knows (what may sit where, object names) and where an element
stands in the configuration tree: its scope, the kind of object it is, what refers to it."""
import re

from tests.simulators.panos.registered import tag_key
from tests.simulators.panos.xmlapi import ApiError

COLOR_RE = re.compile(r"^color([1-9]|[1-3][0-9]|4[0-2])$")
OBJECT_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9 ._-]*$")
NAME_LIMITS = {"tag": 127, "address": 63, "address-group": 63, "service": 63, "service-group": 63, "rule": 63}
RULE_ACTIONS = ("allow", "deny", "drop", "reset-client", "reset-server", "reset-both")
ADDRESS_TYPES = ("ip-netmask", "ip-range", "fqdn", "ip-wildcard")
# Children each kind of object may have (PAN-OS 10.2 schema, the parts this collection and pan-os-python use).
OBJECT_CHILDREN = {
    "tag": {"color", "comments", "disable-override"},
    "address": set(ADDRESS_TYPES) | {"description", "tag", "disable-override"},
    "address-group": {"static", "dynamic", "description", "tag", "disable-override"},
    "service": {"protocol", "description", "tag", "disable-override"},
    "service-group": {"members", "tag", "disable-override"},
    "rule": {"from", "to", "source", "destination", "source-user", "category", "application", "service",
             "source-hip", "destination-hip", "hip-profiles", "action", "log-setting", "log-start", "log-end",
             "description", "rule-type", "tag", "negate-source", "negate-destination", "disabled", "schedule",
             "icmp-unreachable", "option", "profile-setting", "target", "group-tag", "qos", "source-imei",
             "source-imsi", "source-nw-slice", "audit-comment"},
}
# What may sit directly under a vsys entry, a device group or /config/shared (catches misspelt xpaths such as
# ".../adress").
SCOPE_CHILDREN = {
    "pre-rulebase", "post-rulebase", "devices", "reference-templates",  # a Panorama device group's
    "address", "address-group", "tag", "service", "service-group", "application", "application-group",
    "application-filter", "application-tag", "schedule", "zone", "rulebase", "profiles", "profile-group",
    "log-settings", "external-list", "import", "setting", "display-name", "region", "dynamic-user-group",
    "threats", "server-profile", "certificate", "certificate-profile", "ssl-tls-service-profile",
    "response-page", "local-user-database", "authentication-profile", "botnet", "reports", "report-group",
    "pdf-summary-report", "email-scheduler", "content-preview", "user-id-collector", "ocsp-responder",
    "ssl-decrypt", "admin-role", "global-protect", "captive-portal", "user-id-agent", "group-mapping",
}
RULEBASES = ("rulebase", "pre-rulebase", "post-rulebase")  # a vsys has the first; Panorama the other two
RULEBASE_CHILDREN = {
    "security", "nat", "qos", "pbf", "decryption", "application-override", "authentication", "dos",
    "tunnel-inspect", "sdwan", "network-packet-broker", "default-security-rules",
}


# Where each kind of object is referred to: (list element, kind of the object holding that list; None = any).
REFERENCE_FIELDS = {
    "tag": (("tag", None),),
    "address": (("source", "rule"), ("destination", "rule"), ("static", "address-group")),
    "address-group": (("source", "rule"), ("destination", "rule"), ("static", "address-group")),
    "service": (("service", "rule"), ("members", "service-group")),
    "service-group": (("service", "rule"), ("members", "service-group")),
    "zone": (("from", "rule"), ("to", "rule")),
}


def members_of(element, child):
    """The texts of *element*'s ``<child><member>`` list."""
    node = element.find(child)
    if node is None:
        return []
    return [(m.text or "").strip() for m in node.findall("member")]


def is_scope(element):
    """/config/shared, a vsys entry or a Panorama device group: where objects live."""
    if element is None:
        return False
    if element.tag == "shared":
        return True
    parent = element.getparent()
    return element.tag == "entry" and parent is not None and parent.tag in ("vsys", "device-group")


def vsys_and_device_groups(config):
    """Every vsys and device group of a configuration (not /config/shared)."""
    return config.findall("devices/entry/vsys/entry") + config.findall("devices/entry/device-group/entry")


def object_kind(element):
    """'tag', 'address', 'address-group', 'service', 'service-group', 'rule', 'zone' or None."""
    if element is None or element.tag != "entry":
        return None
    parent = element.getparent()
    if parent is None:
        return None
    grand = parent.getparent()
    if parent.tag in ("tag", "address", "address-group", "service", "service-group", "zone") and is_scope(grand):
        return parent.tag
    if parent.tag == "rules" and grand is not None and grand.tag == "security":
        great = grand.getparent()
        if great is not None and great.tag in RULEBASES:
            return "rule"
    return None


def is_reference(member, kind):
    """True when <member> sits in a list that refers to objects of *kind* (a rule's source, an object's tag...)."""
    holder = member.getparent()
    owner = object_kind(holder.getparent())
    return bool(owner) and any(holder.tag == field and want in (None, owner)
                               for field, want in REFERENCE_FIELDS[kind])


def scope_of(element):
    node = element
    while node is not None and not is_scope(node):
        node = node.getparent()
    return node


def label_of(element):
    """'vsys -> vsys1 -> address-group -> web -> tag' style path of an element, as PAN-OS messages show."""
    parts = []
    node = element
    while node is not None and node.tag != "config":
        parent = node.getparent()
        if node.tag == "entry" and parent is not None and parent.tag == "devices":
            break
        parts.append(node.get("name") if node.tag == "entry" and node.get("name") is not None else node.tag)
        node = parent
    return " -> ".join(reversed(parts))


def names_in(scope, container, also_shared=None):
    names = set()
    for root in (scope, also_shared):
        if root is None:
            continue
        node = root.find(container)
        if node is not None:
            names.update(e.get("name") for e in node.findall("entry"))
    return names


def check_object(entry, kind):
    """Schema checks PAN-OS makes when an object is set or edited (ApiError 12 on failure)."""
    name = entry.get("name")
    if name is None:
        raise ApiError(12, "%s -> entry is missing 'name'" % kind)
    limit = NAME_LIMITS.get(kind)
    if limit and len(name) > limit:
        raise ApiError(12, "%s -> %s name is too long (at most %d characters)" % (kind, name, limit))
    if kind == "tag":
        if not name.strip() or any(c in name for c in "'\"<>&,"):
            raise ApiError(12, "tag -> %r is an invalid name" % name)
    elif kind in NAME_LIMITS and not OBJECT_NAME_RE.match(name):
        raise ApiError(12, "%s -> %r is an invalid name: use letters, digits, '_', '.', '-' and spaces, "
                           "starting with a letter, digit or '_'" % (kind, name))
    allowed = OBJECT_CHILDREN.get(kind)
    if allowed is None:
        return
    for child in entry:
        if isinstance(child.tag, str) and child.tag not in allowed:
            raise ApiError(12, " %s -> %s unexpected here" % (name, child.tag))
    if "tag" in allowed and "" in members_of(entry, "tag"):
        # An empty member names no tag (the exact PAN-OS wording for this is not public).
        raise ApiError(12, " %s -> tag -> member is empty: give a tag name" % name)
    if kind == "tag":
        color = entry.findtext("color")
        if color is not None and not COLOR_RE.match(color.strip()):
            raise ApiError(12, " %s -> color '%s' is not an allowed keyword" % (name, color))
    if kind == "rule":
        action = entry.findtext("action")
        if action is not None and action.strip() not in RULE_ACTIONS:
            raise ApiError(12, " %s -> action '%s' is not an allowed keyword" % (name, action))


def check_tag_names_unique(tags):
    """Tag names are not case-sensitive: one <tag> list cannot hold both 'Web' and 'web' (ApiError 12)."""
    seen = {}
    for entry in tags.findall("entry"):
        name = entry.get("name") or ""
        other = seen.setdefault(tag_key(name), name)
        if other != name:
            raise ApiError(12, "tag -> %s is not unique: tag %s exists (tag names are not case-sensitive)"
                           % (name, other))
