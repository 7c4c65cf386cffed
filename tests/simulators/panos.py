"""A stateful PAN-OS XML API simulator: a PA-VM firewall (10.2) with a real configuration tree, commits as jobs,
User-ID registered-IP tags and dynamic address groups — or, with ``model="Panorama"``, a Panorama with device
groups (objects, pre- and post-rulebases, commits to Panorama).

It answers like the XML API of a firewall so that pan-os-python, pan.xapi and the collection are tested against
the behaviour they meet in the field: key generation (403 on bad credentials), candidate (``get``) and running
(``show``) configuration selected with real XPath (lxml), ``set`` merging and ``edit`` replacing, PAN-OS result
codes and messages (7 "Object doesn't exist" / "No such node", 10 references, 12 invalid object, 13 commit in
progress, 14 operation not possible), commits through jobs (ACT then FIN) with validation of the candidate,
"There are no changes to commit.", registered-IP tags with timeouts and paging, dynamic address groups evaluated
over the running configuration. Fault knobs refuse TCP connections or answer HTTP errors for a while.

In-process::

    sim = PanosSimulator(username="admin", password="admin", port=0, commit_seconds=0.2).start()
    ...; sim.stop()

Standalone: ``python tests/simulators/panos.py --port 8443 --username admin --password admin``.
See docs/simulators.md ("PAN-OS XML API simulator").
"""
import argparse
import base64
import collections
import copy
import hmac
import ipaddress
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import uuid as uuidlib

from flask import Flask, Response, jsonify, request
from lxml import etree
from werkzeug.serving import make_server

try:
    from tests.simulators._common import ServerThread
except ImportError:  # run as a script: python tests/simulators/panos.py
    from _common import ServerThread

DEVICE = "/config/devices/entry[@name='localhost.localdomain']"
VSYS1 = DEVICE + "/vsys/entry[@name='vsys1']"
MAX_TAG_TIMEOUT = 2592000          # seconds (30 days), as documented for registered-IP tags
MAX_REGISTERED_IP_PAGE = 500       # `show object registered-ip` answers at most this many entries per call
COLOR_RE = re.compile(r"^color([1-9]|[1-3][0-9]|4[0-2])$")
OBJECT_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9 ._-]*$")
NAME_LIMITS = {"tag": 127, "address": 63, "address-group": 63, "service": 63, "service-group": 63, "rule": 63}
RULE_ACTIONS = ("allow", "deny", "drop", "reset-client", "reset-server", "reset-both")
ADDRESS_TYPES = ("ip-netmask", "ip-range", "fqdn", "ip-wildcard")
RULE_REQUIRED = ("from", "to", "source", "destination", "application", "service")
PREDEFINED_SERVICES = ("any", "application-default", "service-http", "service-https")
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

INITIAL_CONFIG = """
<config version="10.2.0" urldb="paloaltonetworks" detail-version="10.2.9">
  <mgt-config>
    <users>
      <entry name="{username}">
        <permissions><role-based><superuser>yes</superuser></role-based></permissions>
      </entry>
    </users>
    <password-complexity><enabled>yes</enabled><minimum-length>8</minimum-length></password-complexity>
  </mgt-config>
  <shared>
    <application/>
    <application-group/>
    <service/>
    <service-group/>
    <botnet>
      <configuration>
        <http>
          <dynamic-dns><enabled>yes</enabled><threshold>5</threshold></dynamic-dns>
          <malware-sites><enabled>yes</enabled><threshold>5</threshold></malware-sites>
        </http>
        <other-applications><irc>yes</irc></other-applications>
        <unknown-applications>
          <unknown-tcp><destinations-per-hour>10</destinations-per-hour><sessions-per-hour>10</sessions-per-hour>
            <session-length><maximum-bytes>100</maximum-bytes><minimum-bytes>50</minimum-bytes></session-length>
          </unknown-tcp>
        </unknown-applications>
      </configuration>
      <report><topn>100</topn><scheduled>yes</scheduled></report>
    </botnet>
  </shared>
  <devices>
    <entry name="localhost.localdomain">
      <network>
        <interface>
          <ethernet>
            <entry name="ethernet1/1"><layer3><ip><entry name="192.0.2.1/24"/></ip></layer3></entry>
            <entry name="ethernet1/2"><layer3><ip><entry name="198.51.100.1/24"/></ip></layer3></entry>
            <entry name="ethernet1/3"><layer3><ip><entry name="203.0.113.1/24"/></ip></layer3></entry>
          </ethernet>
        </interface>
        <virtual-router>
          <entry name="default">
            <interface><member>ethernet1/1</member><member>ethernet1/2</member><member>ethernet1/3</member></interface>
            <routing-table><ip><static-route>
              <entry name="default-route"><nexthop><ip-address>198.51.100.254</ip-address></nexthop>
                <interface>ethernet1/2</interface><destination>0.0.0.0/0</destination></entry>
            </static-route></ip></routing-table>
          </entry>
        </virtual-router>
        <profiles><interface-management-profile/></profiles>
      </network>
      <deviceconfig>
        <system>
          <hostname>{hostname}</hostname>
          <type><dhcp-client><send-hostname>yes</send-hostname><send-client-id>no</send-client-id>
            <accept-dhcp-hostname>no</accept-dhcp-hostname><accept-dhcp-domain>no</accept-dhcp-domain>
          </dhcp-client></type>
          <update-server>updates.paloaltonetworks.com</update-server>
          <update-schedule><threats><recurring><weekly><day-of-week>wednesday</day-of-week><at>01:02</at>
            <action>download-only</action></weekly></recurring></threats></update-schedule>
          <timezone>UTC</timezone>
          <service><disable-telnet>yes</disable-telnet><disable-http>yes</disable-http></service>
          <dns-setting><servers><primary>192.0.2.53</primary></servers></dns-setting>
          <ntp-servers><primary-ntp-server><ntp-server-address>pool.ntp.org</ntp-server-address>
          </primary-ntp-server></ntp-servers>
          <login-banner/>
        </system>
        <setting>
          <config><rematch>yes</rematch></config>
          <management><hostname-type-in-syslog>FQDN</hostname-type-in-syslog></management>
          <auto-mac-detect>yes</auto-mac-detect>
        </setting>
      </deviceconfig>
      <vsys>
        <entry name="vsys1">
          <application/>
          <application-group/>
          <zone>
            <entry name="trust"><network><layer3><member>ethernet1/1</member></layer3></network></entry>
            <entry name="untrust"><network><layer3><member>ethernet1/2</member></layer3></network></entry>
            <entry name="dmz"><network><layer3><member>ethernet1/3</member></layer3></network></entry>
          </zone>
          <service/>
          <service-group/>
          <schedule/>
          <rulebase>
            <security><rules/></security>
          </rulebase>
          <import>
            <network>
              <interface><member>ethernet1/1</member><member>ethernet1/2</member><member>ethernet1/3</member></interface>
            </network>
          </import>
          <tag/>
          <address/>
          <address-group/>
        </entry>
      </vsys>
    </entry>
  </devices>
</config>
"""


# A Panorama (M-series / Panorama VM): shared objects and policy, and device groups with their own objects and
# pre-/post-rulebases. Zones belong to templates, which this simulator does not model.
PANORAMA_CONFIG = """
<config version="10.2.0" urldb="paloaltonetworks" detail-version="10.2.9">
  <mgt-config>
    <users>
      <entry name="{username}">
        <permissions><role-based><superuser>yes</superuser></role-based></permissions>
      </entry>
    </users>
  </mgt-config>
  <shared>
    <tag/>
    <address/>
    <address-group/>
    <service/>
    <service-group/>
    <pre-rulebase><security><rules/></security></pre-rulebase>
    <post-rulebase><security><rules/></security></post-rulebase>
  </shared>
  <devices>
    <entry name="localhost.localdomain">
      <deviceconfig><system><hostname>{hostname}</hostname><timezone>UTC</timezone></system></deviceconfig>
      <device-group>{device_groups}</device-group>
    </entry>
  </devices>
</config>
"""
DEVICE_GROUP = """
        <entry name="{name}">
          <tag/>
          <address/>
          <address-group/>
          <pre-rulebase><security><rules/></security></pre-rulebase>
          <post-rulebase><security><rules/></security></post-rulebase>
          <devices/>
        </entry>"""


class ApiError(Exception):
    """An XML API error answer: ``<response status="error" code="N"><msg><line>...`` (or under <result>)."""

    def __init__(self, code, lines, http_status=200, in_result=False):
        super(ApiError, self).__init__(lines if isinstance(lines, str) else "; ".join(lines))
        self.code = code
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        self.http_status = http_status
        self.in_result = in_result


class FilterError(ValueError):
    """A dynamic address group filter that does not parse."""


def _parser():
    # No entities, no DTDs, no network: input from clients is never trusted (and must never crash us).
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_blank_text=True)


def _parse_xml(text, what="cmd"):
    """One XML element from a request parameter, or ApiError 18 (malformed)."""
    if text is None or not str(text).strip():
        raise ApiError(400, 'Missing parameter "%s"' % what, http_status=400, in_result=True)
    try:
        return etree.fromstring(str(text).strip().encode("utf-8"), _parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise ApiError(18, "Malformed Request: %s" % e)


def _parse_fragment(text):
    """The children of an ``element=`` parameter (set may carry several sibling elements)."""
    if text is None or not str(text).strip():
        raise ApiError(400, 'Missing parameter "element"', http_status=400, in_result=True)
    try:
        wrapper = etree.fromstring(("<fragment>%s</fragment>" % str(text).strip()).encode("utf-8"), _parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise ApiError(18, "Malformed Request: %s" % e)
    children = [c for c in wrapper if isinstance(c.tag, str)]
    if not children:
        raise ApiError(18, "Malformed Request: element holds no XML element")
    return children


_NOT_XML_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text):
    """Text that XML can carry: messages echo client input, which may hold control characters."""
    return _NOT_XML_RE.sub("?", text)


def _uint(text):
    """int of a plain ASCII decimal (str.isdigit() also accepts '²', which int() refuses), else None."""
    text = (text or "").strip()
    return int(text) if re.match(r"^[0-9]{1,12}$", text) else None


def _panos_time(epoch):
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(epoch))


def _ip_sort_key(ip):
    addr = ipaddress.ip_address(ip)
    return (addr.version, int(addr))


# ------------------------------------------------------------------------------------ dynamic address groups
_TOKEN_RE = re.compile(r"""\s*(?:(\()|(\))|'([^']*)'|"([^"]*)"|([^\s()'"]+))""")


def parse_filter(text):
    """Compile a dynamic address group filter ("'a' and ('b' or c)") into a predicate over a set of tags.

    Tags are quoted ('x' or "x") or bare words; ``and`` binds tighter than ``or``; parentheses group.
    """
    tokens = []
    pos = 0
    text = text or ""
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError("unexpected character at position %d" % (pos + 1))
        lpar, rpar, single, double, bare = match.groups()
        if lpar:
            tokens.append(("(", None))
        elif rpar:
            tokens.append((")", None))
        elif single is not None or double is not None:
            tokens.append(("tag", single if single is not None else double))
        elif bare.lower() in ("and", "or"):
            tokens.append((bare.lower(), None))
        elif bare.lower() == "not":
            raise FilterError("'not' is not supported in a dynamic address group filter")
        else:
            tokens.append(("tag", bare))
        pos = match.end()
    if not tokens:
        raise FilterError("the filter is empty")

    def expect(index, kinds):
        if index >= len(tokens):
            raise FilterError("the filter ends too early")
        if tokens[index][0] not in kinds:
            raise FilterError("unexpected %r" % (tokens[index][1] or tokens[index][0]))

    def parse_or(i):
        node, i = parse_and(i)
        terms = [node]
        while i < len(tokens) and tokens[i][0] == "or":
            node, i = parse_and(i + 1)
            terms.append(node)
        return (("or", terms) if len(terms) > 1 else terms[0]), i

    def parse_and(i):
        node, i = parse_atom(i)
        terms = [node]
        while i < len(tokens) and tokens[i][0] == "and":
            node, i = parse_atom(i + 1)
            terms.append(node)
        return (("and", terms) if len(terms) > 1 else terms[0]), i

    def parse_atom(i):
        expect(i, ("(", "tag"))
        if tokens[i][0] == "tag":
            return ("tag", tokens[i][1]), i + 1
        node, i = parse_or(i + 1)
        expect(i, (")",))
        return node, i + 1

    tree, end = parse_or(0)
    if end != len(tokens):
        raise FilterError("unexpected %r" % (tokens[end][1] or tokens[end][0]))

    def evaluate(node, tags):
        kind, value = node
        if kind == "tag":
            return value in tags
        if kind == "and":
            return all(evaluate(n, tags) for n in value)
        return any(evaluate(n, tags) for n in value)

    return lambda tags: evaluate(tree, set(tags))


# ------------------------------------------------------------------------------------ configuration helpers
def _members(element, child):
    node = element.find(child)
    if node is None:
        return []
    return [(m.text or "").strip() for m in node.findall("member")]


def _is_scope(element):
    """/config/shared, a vsys entry or a Panorama device group: where objects live."""
    if element is None:
        return False
    if element.tag == "shared":
        return True
    parent = element.getparent()
    return element.tag == "entry" and parent is not None and parent.tag in ("vsys", "device-group")


def _scopes(config):
    """Every vsys and device group of a configuration (not /config/shared)."""
    return config.findall("devices/entry/vsys/entry") + config.findall("devices/entry/device-group/entry")


def _object_kind(element):
    """'tag', 'address', 'address-group', 'service', 'service-group', 'rule', 'zone' or None."""
    if element is None or element.tag != "entry":
        return None
    parent = element.getparent()
    if parent is None:
        return None
    grand = parent.getparent()
    if parent.tag in ("tag", "address", "address-group", "service", "service-group", "zone") and _is_scope(grand):
        return parent.tag
    if parent.tag == "rules" and grand is not None and grand.tag == "security":
        great = grand.getparent()
        if great is not None and great.tag in RULEBASES:
            return "rule"
    return None


# Where each kind of object is referred to: (list element, kind of the object holding that list; None = any).
REFERENCE_FIELDS = {
    "tag": (("tag", None),),
    "address": (("source", "rule"), ("destination", "rule"), ("static", "address-group")),
    "address-group": (("source", "rule"), ("destination", "rule"), ("static", "address-group")),
    "service": (("service", "rule"), ("members", "service-group")),
    "service-group": (("service", "rule"), ("members", "service-group")),
    "zone": (("from", "rule"), ("to", "rule")),
}


def _is_reference(member, kind):
    """True when <member> sits in a list that refers to objects of *kind* (a rule's source, an object's tag...)."""
    holder = member.getparent()
    owner = _object_kind(holder.getparent())
    return bool(owner) and any(holder.tag == field and want in (None, owner)
                               for field, want in REFERENCE_FIELDS[kind])


def _never(_tags):
    return False


def _scope_of(element):
    node = element
    while node is not None and not _is_scope(node):
        node = node.getparent()
    return node


def _label(element):
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


def _names(scope, container, also_shared=None):
    names = set()
    for root in (scope, also_shared):
        if root is None:
            continue
        node = root.find(container)
        if node is not None:
            names.update(e.get("name") for e in node.findall("entry"))
    return names


def _is_address_literal(value):
    try:
        if value.count("-") == 1 and "/" not in value:
            first, last = value.split("-")
            ipaddress.ip_address(first)
            ipaddress.ip_address(last)
            return True
        ipaddress.ip_network(value, strict=False)
        return True
    except ValueError:
        return False


def validate_config(config):
    """What a commit's validation reports about a configuration: a list of error lines (empty when valid)."""
    errors = []
    shared = config.find("shared")
    scopes = [shared] if shared is not None else []
    scopes += _scopes(config)
    for scope in scopes:
        fallback = shared if scope is not shared else None
        addresses = _names(scope, "address", fallback) | _names(scope, "address-group", fallback) \
            | _names(scope, "external-list", fallback)
        services = _names(scope, "service", fallback) | _names(scope, "service-group", fallback)
        zones = _names(scope, "zone")
        for entry in scope.findall("address/entry"):
            kinds = [t for t in ADDRESS_TYPES if entry.find(t) is not None]
            where = "address -> %s" % entry.get("name")
            if len(kinds) > 1:
                errors.append("%s Node %s and %s are mutually exclusive" % (where, kinds[0], kinds[1]))
            elif not kinds:
                errors.append("%s is missing 'ip-netmask', 'ip-range', 'fqdn' or 'ip-wildcard'" % where)
            elif kinds[0] in ("ip-netmask", "ip-range"):
                value = (entry.findtext(kinds[0]) or "").strip()
                if not _is_address_literal(value) or (kinds[0] == "ip-range") != ("-" in value):
                    errors.append("%s -> %s '%s' is not a valid address" % (where, kinds[0], value))
        for entry in scope.findall("address-group/entry"):
            where = "address-group -> %s" % entry.get("name")
            static, dynamic = entry.find("static"), entry.find("dynamic")
            if static is not None and dynamic is not None:
                errors.append("%s Node static and dynamic are mutually exclusive" % where)
            elif static is None and dynamic is None:
                errors.append("%s is missing 'static' or 'dynamic'" % where)
            for member in _members(entry, "static"):
                if member not in addresses or member == entry.get("name"):
                    errors.append("%s -> static '%s' is not a valid reference" % (where, member))
            if dynamic is not None:
                text = dynamic.findtext("filter")
                try:
                    parse_filter(text)
                except FilterError as e:
                    errors.append("%s -> dynamic -> filter '%s' is invalid (%s)" % (where, text or "", e))
        if scope is shared and shared.find("pre-rulebase") is None:  # a firewall's shared has no policy
            continue
        rules = [(base, entry) for base in RULEBASES for entry in scope.findall(base + "/security/rules/entry")]
        for base, entry in rules:
            where = "%s -> security -> rules -> %s" % (base, entry.get("name"))
            for field in RULE_REQUIRED:
                if not _members(entry, field):
                    errors.append("%s is missing '%s'" % (where, field))
            for field in ("from", "to"):
                for member in _members(entry, field):
                    # On Panorama, zones come from templates (not modelled): any name is accepted.
                    if member != "any" and member not in zones and base == "rulebase":
                        errors.append("%s -> %s '%s' is not a valid reference" % (where, field, member))
            for field in ("source", "destination"):
                for member in _members(entry, field):
                    if member != "any" and member not in addresses and not _is_address_literal(member) \
                            and not re.match(r"^[A-Z0-9]{2}$", member):
                        errors.append("%s -> %s '%s' is not an allowed keyword" % (where, field, member))
            for member in _members(entry, "service"):
                if member not in PREDEFINED_SERVICES and member not in services:
                    errors.append("%s -> service '%s' is not a valid reference" % (where, member))
    return errors


def _check_object(entry, kind):
    """Schema checks PAN-OS makes when an object is set or edited (ApiError 12 on failure)."""
    name = entry.get("name")
    if name is None:
        raise ApiError(12, "%s -> entry is missing 'name'" % kind)
    limit = NAME_LIMITS.get(kind)
    if limit and len(name) > limit:
        raise ApiError(12, "%s -> %s name is too long (at most %d characters)" % (kind, name, limit))
    if kind == "tag":
        if not name.strip() or any(c in name for c in "'\"<>&"):
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
    if kind == "tag":
        color = entry.findtext("color")
        if color is not None and not COLOR_RE.match(color.strip()):
            raise ApiError(12, " %s -> color '%s' is not an allowed keyword" % (name, color))
    if kind == "rule":
        action = entry.findtext("action")
        if action is not None and action.strip() not in RULE_ACTIONS:
            raise ApiError(12, " %s -> action '%s' is not an allowed keyword" % (name, action))


# ------------------------------------------------------------------------------------ XPath steps
_STEP_RE = re.compile(r"""^([A-Za-z_][\w.-]*)(?:\[@name=(?:'([^']*)'|"([^"]*)")\])?$""")


def _split_xpath(xpath):
    """'/config/a/entry[@name='x/y']' -> ['config', 'a', "entry[@name='x/y']"] (slashes in quotes kept)."""
    steps, current, quote, depth = [], [], None, 0
    for char in xpath:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == "[":
            depth += 1
            current.append(char)
        elif char == "]":
            depth -= 1
            current.append(char)
        elif char == "/" and depth == 0:
            steps.append("".join(current))
            current = []
        else:
            current.append(char)
    steps.append("".join(current))
    if quote or depth:
        raise ApiError(6, "Bad Xpath: %s" % xpath)
    return steps


def _simple_steps(xpath):
    """[(tag, name-or-None)] for a plain location path under /config, or None if it is not that simple."""
    raw = _split_xpath(xpath)
    if len(raw) < 2 or raw[0] != "" or raw[1] != "config":
        return None
    steps = []
    for step in raw[2:]:
        match = _STEP_RE.match(step)
        if not match:
            return None
        name = match.group(2) if match.group(2) is not None else match.group(3)
        steps.append((match.group(1), name))
    return steps


def _find_child(parent, tag, name):
    for child in parent:
        if child.tag == tag and (name is None or child.get("name") == name):
            return child
    return None


# ------------------------------------------------------------------------------------ server wrapper
class _Listener(ServerThread):
    """ServerThread that can close its listening socket (clients get ECONNREFUSED) and reopen the same port."""

    def suspend(self):
        server = self._server
        if server is not None:
            self._server = None
            server.shutdown()
            server.server_close()

    def resume(self):
        if self._server is not None or self._tmp is None:
            return
        # make_self_signed_cert writes key.pem next to cert.pem; reuse both so clients keep trusting us.
        key_path = os.path.join(os.path.dirname(self.cert_path), "key.pem")
        self._server = make_server(self.host, self.port, self.app, threaded=True,
                                   ssl_context=(self.cert_path, key_path) if self.tls else None)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sim-server", daemon=True)
        self._thread.start()

    @property
    def suspended(self):
        return self._server is None and self._tmp is not None


# ------------------------------------------------------------------------------------ the simulator
class PanosSimulator(object):
    """A PA-VM firewall's XML API on https://127.0.0.1:PORT/api/ (see the module docstring)."""

    def __init__(self, username="admin", password="admin", host="127.0.0.1", port=0, commit_seconds=0.2,
                 model="PA-VM", sw_version="10.2.9-h1", serial="007951000123456", hostname="PA-VM",
                 device_groups=("branch-offices",)):
        """model "Panorama" makes a Panorama with *device_groups* (shared and device-group objects and policy, no
        vsys, no registered IPs of its own); any other model is a single-vsys firewall."""
        self.username = username
        self._password = password
        self.commit_seconds = float(commit_seconds)
        self.model = model
        self.sw_version = sw_version
        self.serial = serial
        self.hostname = hostname
        self.device_groups = tuple(device_groups)
        self._lock = threading.RLock()
        self._clock_offset = 0.0
        self._started = time.time()
        self._api_key = self._new_key()
        self._fault = None            # ("error", until_monotonic, status)
        self._resume_timer = None
        self._stopped = False
        self.requests = collections.deque(maxlen=5000)   # what clients asked (never keys or passwords)
        self._reset_state()
        self.reset_stats()
        self.app = self._make_app()
        self._server = _Listener(self.app, host=host, port=port)

    @property
    def is_panorama(self):
        return self.model.startswith(("Panorama", "M-"))

    # -------------------------------------------------------------- lifecycle
    @property
    def url(self):
        return self._server.url

    @property
    def host(self):
        return self._server.host

    @property
    def port(self):
        return self._server.port

    @property
    def cert_path(self):
        return self._server.cert_path

    @property
    def api_key(self):
        return self._api_key

    def start(self):
        self._server.start()
        return self

    def stop(self):
        self._stopped = True
        timer = self._resume_timer
        if timer is not None:
            timer.cancel()
        self._server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -------------------------------------------------------------- test controls
    def stats(self):
        with self._lock:
            self._settle()
            return {
                "calls": dict(self._calls),
                "config_actions": dict(self._config_actions),
                "ops": dict(self._ops),
                "commits": self._commits,
                "commits_failed": self._commits_failed,
                "faulted": self._faulted,
                "internal_errors": self._internal_errors,
                "registered_ips": len(self._registered),
                "jobs": len(self._jobs),
            }

    def reset_stats(self):
        with self._lock:
            self._calls = collections.Counter()
            self._config_actions = collections.Counter()
            self._ops = collections.Counter()
            self._commits = 0
            self._commits_failed = 0
            self._faulted = 0
            self._internal_errors = 0
            self.requests.clear()

    def reset(self):
        """Back to the initial configuration, no jobs, no registered IPs, zero counters."""
        with self._lock:
            self._reset_state()
            self.reset_stats()

    def registered_ips(self):
        """Current User-ID state: {ip: set(tags)} (expired tags removed)."""
        with self._lock:
            self._settle()
            return dict((ip, set(tags)) for ip, tags in self._registered.items())

    def registered_users(self):
        with self._lock:
            self._settle()
            return dict((user, set(tags)) for user, tags in self._user_tags.items())

    def running_config(self):
        with self._lock:
            self._settle()
            return etree.tostring(self._running, encoding="unicode")

    def candidate_config(self):
        with self._lock:
            return etree.tostring(self._candidate, encoding="unicode")

    def advance_clock(self, seconds):
        """Move the simulated clock forward: tag timeouts expire and commit jobs finish without sleeping."""
        with self._lock:
            self._clock_offset += float(seconds)
            self._settle()

    def fault(self, mode, seconds=None, status=503):
        """Misbehave for *seconds*: mode "refuse" closes the listening socket (connections refused) and reopens
        the same port afterwards; "error" answers every API call with HTTP *status*; None/"none" ends a fault."""
        if mode in (None, "none", "clear"):
            self.clear_fault()
            return
        if mode not in ("refuse", "error"):
            raise ValueError("fault mode must be 'refuse', 'error' or None, not %r" % (mode,))
        seconds = float(seconds if seconds is not None else 5)
        if not 0 < seconds <= 3600:
            raise ValueError("fault seconds must be in (0, 3600]")
        if mode == "error":
            status = int(status)
            if not 400 <= status <= 599:
                raise ValueError("fault status must be an HTTP error status (400-599)")
            with self._lock:
                self._fault = ("error", time.monotonic() + seconds, status)
            return
        self._server.suspend()
        self._schedule_resume(seconds)

    def clear_fault(self):
        with self._lock:
            self._fault = None
        timer = self._resume_timer
        if timer is not None:
            timer.cancel()
        self._resume()

    def _schedule_resume(self, seconds):
        timer = self._resume_timer
        if timer is not None:
            timer.cancel()
        self._resume_timer = threading.Timer(seconds, self._resume)
        self._resume_timer.daemon = True
        self._resume_timer.start()

    def _resume(self):
        if self._stopped or not self._server.suspended:
            return
        for _attempt in range(50):        # the port is ours, but give a closing socket a moment
            try:
                self._server.resume()
                return
            except OSError:
                time.sleep(0.1)
        sys.stderr.write("PAN-OS simulator: could not reopen port %s\n" % self.port)

    # -------------------------------------------------------------- state
    def _reset_state(self):
        if self.is_panorama:
            text = PANORAMA_CONFIG.format(username=self.username, hostname=self.hostname, device_groups="".join(
                DEVICE_GROUP.format(name=name) for name in self.device_groups))
        else:
            text = INITIAL_CONFIG.format(username=self.username, hostname=self.hostname)
        self._candidate = etree.fromstring(text.encode("utf-8"), _parser())
        self._running = copy.deepcopy(self._candidate)
        self._jobs = collections.OrderedDict()
        self._next_job = 1
        self._registered = {}        # ip -> {tag: expiry-or-None}
        self._persistent = {}        # ip -> "0"/"1"
        self._user_tags = {}         # user -> {tag: expiry-or-None}
        self._ip_users = {}          # ip -> (user, expiry-or-None)
        self._groups = {}            # group -> [users]

    def _now(self):
        return time.time() + self._clock_offset

    @staticmethod
    def _new_key():
        # PAN-OS keys are base64; pan.xapi appends key= unencoded, so keep '+', '/' (and '&', '%') out of it.
        while True:
            key = base64.b64encode(b"-AQ==" + secrets.token_bytes(45)).decode("ascii")
            if not set(key) & set("+/&%"):
                return key

    def _settle(self):
        """Apply what time has done: finish commit jobs, expire registered tags."""
        now = self._now()
        for job in self._jobs.values():
            if job["status"] == "ACT" and now >= job["ends"]:
                self._finish_job(job)
        for table in (self._registered, self._user_tags):
            for key in list(table):
                tags = table[key]
                for tag, expiry in list(tags.items()):
                    if expiry is not None and expiry <= now:
                        del tags[tag]
                if not tags:
                    del table[key]
                    self._persistent.pop(key, None)
        for ip, (_user, expiry) in list(self._ip_users.items()):
            if expiry is not None and expiry <= now:
                del self._ip_users[ip]

    # -------------------------------------------------------------- HTTP plumbing
    def _make_app(self):
        app = Flask("panos_simulator")
        # Big User-ID messages (thousands of entries) arrive as one form field.
        app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
        app.config["MAX_FORM_MEMORY_SIZE"] = 64 * 1024 * 1024
        sim = self

        @app.before_request
        def _gate():
            if request.path.startswith("/_sim/"):
                try:
                    loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
                except ValueError:
                    loopback = False
                if not loopback:
                    return jsonify({"error": "test-control endpoints answer loopback clients only"}), 403
            return None

        @app.route("/api/", methods=["GET", "POST"], strict_slashes=False)
        def _api():
            return sim._handle_api()

        @app.errorhandler(404)
        def _not_found(_exc):
            return Response("<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body>"
                            "</html>\n", 404, mimetype="text/html")

        @app.errorhandler(405)
        def _not_allowed(_exc):
            return Response("<html><head><title>405 Method Not Allowed</title></head><body>"
                            "<h1>Method Not Allowed</h1></body></html>\n", 405, mimetype="text/html")

        @app.errorhandler(413)
        def _too_large(_exc):
            return sim._xml(sim._error_body(ApiError(400, "Request too large", in_result=True)), 413)

        @app.route("/_sim/stats", methods=["GET"])
        def _sim_stats():
            return jsonify(sim.stats())

        @app.route("/_sim/reset-stats", methods=["POST"])
        def _sim_reset_stats():
            sim.reset_stats()
            return jsonify({"reset": True})

        @app.route("/_sim/reset", methods=["POST"])
        def _sim_reset():
            sim.reset()
            return jsonify({"reset": True})

        @app.route("/_sim/registered-ips", methods=["GET"])
        def _sim_registered():
            return jsonify(dict((ip, sorted(tags)) for ip, tags in sim.registered_ips().items()))

        @app.route("/_sim/requests", methods=["GET"])
        def _sim_requests():
            with sim._lock:
                return jsonify(list(sim.requests))

        @app.route("/_sim/config/<which>", methods=["GET"])
        def _sim_config(which):
            if which not in ("running", "candidate"):
                return jsonify({"error": "running or candidate"}), 404
            text = sim.running_config() if which == "running" else sim.candidate_config()
            return Response(text, 200, mimetype="application/xml")

        @app.route("/_sim/fault", methods=["POST"])
        def _sim_fault():
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return jsonify({"error": 'send JSON {"mode": "refuse"|"error"|"none", "seconds": S, '
                                         '"status": 503}'}), 400
            mode = body.get("mode")
            if mode not in ("refuse", "error", "none"):
                return jsonify({"error": 'mode must be "refuse", "error" or "none"'}), 400
            try:
                seconds = float(body.get("seconds", 5))
                status = int(body.get("status", 503))
                if mode == "refuse":
                    if not 0 < seconds <= 3600:
                        raise ValueError("fault seconds must be in (0, 3600]")
                    # Answer first, then close the socket.
                    threading.Timer(0.05, sim.fault, args=("refuse", seconds)).start()
                else:
                    sim.fault(mode, seconds, status)
            except (TypeError, ValueError) as e:
                return jsonify({"error": str(e)}), 400
            return jsonify({"mode": mode, "seconds": seconds, "status": status})

        return app

    @staticmethod
    def _xml(root, status=200):
        body = etree.tostring(root, encoding="utf-8")
        return Response(body, status, content_type="application/xml; charset=UTF-8")

    @staticmethod
    def _error_body(exc):
        root = etree.Element("response", status="error")
        if exc.code is not None:
            root.set("code", str(exc.code))
        if exc.in_result:
            etree.SubElement(etree.SubElement(root, "result"), "msg").text = _clean(exc.lines[0] if exc.lines else "")
        else:
            msg = etree.SubElement(root, "msg")
            for line in exc.lines:
                etree.SubElement(msg, "line").text = _clean(line)
        return root

    @staticmethod
    def _success(code=None, result=None, msg=None):
        root = etree.Element("response", status="success")
        if code is not None:
            root.set("code", str(code))
        if result is not None:
            root.append(result)
        if msg is not None:
            etree.SubElement(root, "msg").text = msg
        return root

    def _params(self):
        params = {}
        for source in (request.args, request.form):
            for key in source:
                params[key] = source.get(key)
        return params

    def _record(self, params, http_status, root):
        entry = {"time": round(time.time(), 3), "method": request.method, "type": params.get("type"),
                 "http_status": http_status}
        for field in ("action", "xpath", "cmd", "where", "dst", "vsys", "element"):
            value = params.get(field)
            if value is not None:
                entry[field] = value if len(value) <= 1000 else value[:1000] + "..."
        if root is not None:
            entry["status"] = root.get("status")
            entry["code"] = root.get("code")
        self.requests.append(entry)

    def _handle_api(self):
        params = self._params()
        kind = params.get("type")
        root = None
        http_status = 200
        with self._lock:
            self._calls[kind or "(none)"] += 1
            fault = self._fault
            if fault is not None and time.monotonic() >= fault[1]:
                self._fault = fault = None
            if fault is not None:
                self._faulted += 1
                self._record(params, fault[2], None)
                return Response("<html><head><title>%d Error</title></head><body><center><h1>%d Error</h1>"
                                "</center><hr><center>nginx</center></body></html>\n" % (fault[2], fault[2]),
                                fault[2], mimetype="text/html")
            try:
                self._settle()
                root = self._dispatch(kind, params)
            except ApiError as e:
                root, http_status = self._error_body(e), e.http_status
            except Exception:  # a bug here must not look like a dead firewall, but must be visible
                self._internal_errors += 1
                sys.stderr.write("PAN-OS simulator internal error:\n" + traceback.format_exc())
                root = self._error_body(ApiError(2, "Internal error"))
            self._record(params, http_status, root)
        return self._xml(root, http_status)

    # -------------------------------------------------------------- authentication
    def _check_password(self, user, password):
        return (user is not None and password is not None
                and hmac.compare_digest(str(user).encode("utf-8"), self.username.encode("utf-8"))
                and hmac.compare_digest(str(password).encode("utf-8"), self._password.encode("utf-8")))

    def _authenticate(self, params):
        key = params.get("key") or request.headers.get("X-PAN-KEY")
        if key is not None:
            if hmac.compare_digest(key.encode("utf-8"), self._api_key.encode("utf-8")):
                return
        elif self._check_password(params.get("user"), params.get("password")):
            return
        elif request.authorization is not None and self._check_password(
                request.authorization.username, request.authorization.password):
            return
        raise ApiError(403, "Invalid credentials.", http_status=403, in_result=True)

    def _keygen(self, params):
        if not self._check_password(params.get("user"), params.get("password")):
            raise ApiError(403, "Invalid Credential", http_status=403, in_result=True)
        result = etree.Element("result")
        etree.SubElement(result, "key").text = self._api_key
        return self._success(result=result)

    # -------------------------------------------------------------- dispatch
    def _dispatch(self, kind, params):
        if kind is None:
            raise ApiError(400, 'Missing parameter "type"', http_status=400, in_result=True)
        if kind == "keygen":
            return self._keygen(params)
        if kind not in ("op", "config", "commit", "user-id", "version"):
            raise ApiError(400, 'Illegal value for parameter "type" [%s].' % kind, http_status=400,
                           in_result=True)
        self._authenticate(params)
        vsys = params.get("vsys")
        if vsys not in (None, "", "vsys1"):
            raise ApiError(17, "vsys %s does not exist (this firewall has vsys1 only)" % vsys)
        if kind == "version":
            result = etree.Element("result")
            for tag, text in (("sw-version", self.sw_version), ("multi-vsys", "off"), ("model", self.model),
                              ("serial", self.serial)):
                etree.SubElement(result, tag).text = text
            return self._success(result=result)
        if kind == "config":
            return self._config(params)
        if kind == "commit":
            return self._commit(params)
        if kind == "user-id":
            return self._user_id(params)
        return self._op(params)

    # -------------------------------------------------------------- type=config
    def _config(self, params):
        action = params.get("action")
        self._config_actions[action or "(none)"] += 1
        handlers = {"get": self._config_get, "show": self._config_show, "set": self._config_set,
                    "edit": self._config_edit, "delete": self._config_delete, "move": self._config_move}
        if action is None:
            raise ApiError(400, 'Missing parameter "action"', http_status=400, in_result=True)
        if action in ("rename", "clone", "override", "multi-config", "complete"):
            raise ApiError(1, "action %s is not supported by this simulator" % action)
        if action not in handlers:
            raise ApiError(400, 'Illegal value for parameter "action" [%s].' % action, http_status=400,
                           in_result=True)
        return handlers[action](params)

    @staticmethod
    def _select(config, xpath):
        try:
            found = config.getroottree().xpath(xpath)
        except (etree.XPathError, ValueError, TypeError):
            raise ApiError(6, "Bad Xpath: %s" % xpath)
        if not isinstance(found, list):
            return [found]
        return found

    @staticmethod
    def _result_nodes(found):
        """Copies of what an xpath selected, as PAN-OS shows them (an attribute as its element with only it)."""
        nodes, texts = [], []
        for item in found:
            if isinstance(item, etree._Element):
                if isinstance(item.tag, str):
                    nodes.append(copy.deepcopy(item))
            elif getattr(item, "is_attribute", False):
                holder = etree.Element(item.getparent().tag)
                holder.set(item.attrname, str(item))
                nodes.append(holder)
            else:
                texts.append(str(item).lower() if isinstance(item, bool) else str(item))
        return nodes, texts

    def _config_get(self, params):
        xpath = params.get("xpath") or "/config"
        found = self._select(self._candidate, xpath)
        nodes, texts = self._result_nodes(found)
        if not nodes and not texts:
            return self._success(code=7, result=etree.Element("result"))
        result = etree.Element("result", {"total-count": str(len(nodes) or len(texts)),
                                          "count": str(len(nodes) or len(texts))})
        if texts and not nodes:
            result.text = "".join(texts)
        for node in nodes:
            result.append(node)
        return self._success(code=19, result=result)

    def _config_show(self, params):
        xpath = params.get("xpath") or "/config"
        nodes, texts = self._result_nodes(self._select(self._running, xpath))
        if not nodes and not texts:
            raise ApiError(None, "No such node")
        result = etree.Element("result")
        if texts and not nodes:
            result.text = "".join(texts)
        for node in nodes:
            result.append(node)
        return self._success(result=result)

    def _require_xpath(self, params):
        xpath = params.get("xpath")
        if not xpath:
            raise ApiError(400, 'Missing parameter "xpath"', http_status=400, in_result=True)
        if not xpath.startswith("/config/") and xpath != "/config":
            raise ApiError(12, "Could not find schema node for xpath %s" % xpath)
        if xpath.startswith("/config/predefined"):
            raise ApiError(15, "Predefined configuration cannot be changed")
        return xpath

    def _locate(self, config, xpath, create):
        """The single element at *xpath* in *config*; created along a plain path when *create*; None if absent."""
        found = [n for n in self._select(config, xpath) if isinstance(n, etree._Element)]
        if len(found) > 1:
            raise ApiError(8, "Object not unique: %s selects %d nodes" % (xpath, len(found)))
        if found:
            return found[0]
        if not create:
            return None
        steps = _simple_steps(xpath)
        if steps is None:
            raise ApiError(7, "No such node")
        node = config
        for index, (tag, name) in enumerate(steps):
            child = _find_child(node, tag, name)
            if child is None:
                if _is_scope(node) and tag not in SCOPE_CHILDREN or \
                        node.tag in RULEBASES and tag not in RULEBASE_CHILDREN:
                    raise ApiError(12, "Could not find schema node for xpath %s" % xpath)
                child = etree.SubElement(node, tag)
                if name is not None:
                    child.set("name", name)
            node = child
        return node

    def _checked_change(self, change):
        """Apply *change(config)* -> element to a copy of the candidate, check it, then make it the candidate."""
        config = copy.deepcopy(self._candidate)
        target = change(config)
        self._check_touched(target)
        self._assign_rule_uuids(config)
        self._candidate = config

    @staticmethod
    def _check_touched(target):
        node = target
        while node is not None:
            kind = _object_kind(node)
            if kind:
                _check_object(node, kind)
            if _is_scope(node):
                for child in node:
                    if child.tag not in SCOPE_CHILDREN:
                        raise ApiError(12, " %s -> %s unexpected here" % (node.get("name", node.tag), child.tag))
            node = node.getparent()
        for element in target.iter():
            if element is target or not isinstance(element.tag, str):
                continue
            kind = _object_kind(element)
            if kind:
                _check_object(element, kind)
            if _is_scope(element):
                for child in element:
                    if child.tag not in SCOPE_CHILDREN:
                        raise ApiError(12, " %s -> %s unexpected here" % (element.get("name"), child.tag))

    @staticmethod
    def _assign_rule_uuids(config):
        # PAN-OS 9.0+ gives every policy rule a uuid when it is created.
        for rule in [r for base in RULEBASES for r in config.iterfind(".//%s/*/rules/entry" % base)]:
            if not rule.get("uuid"):
                rule.set("uuid", str(uuidlib.uuid4()))

    def _config_set(self, params):
        xpath = self._require_xpath(params)
        fragment = _parse_fragment(params.get("element"))

        def change(config):
            target = self._locate(config, xpath, create=True)
            for element in fragment:
                self._merge(target, element)
            return target

        self._checked_change(change)
        return self._success(code=20, msg="command succeeded")

    @classmethod
    def _merge(cls, parent, new):
        """set semantics: add what is missing, recurse into what exists, replace leaf values, add members."""
        if not isinstance(new.tag, str):
            return
        if new.get("name") is not None:
            existing = _find_child(parent, new.tag, new.get("name"))
        elif new.tag == "member":
            existing = next((m for m in parent if m.tag == "member" and (m.text or "") == (new.text or "")), None)
        else:
            existing = _find_child(parent, new.tag, None)
        if existing is None:
            parent.append(copy.deepcopy(new))
            return
        for key, value in new.attrib.items():
            existing.set(key, value)
        if len(new):
            existing.text = None
            for child in new:
                cls._merge(existing, child)
        elif new.text is not None and new.text.strip() and new.tag != "member":
            for child in list(existing):
                existing.remove(child)
            existing.text = new.text

    def _config_edit(self, params):
        xpath = self._require_xpath(params)
        fragment = _parse_fragment(params.get("element"))
        if len(fragment) != 1:
            raise ApiError(12, "Edit breaks config validity: edit takes exactly one element")
        new = fragment[0]

        def change(config):
            old = self._locate(config, xpath, create=False)
            if old is None:
                steps = _simple_steps(xpath)
                if not steps:
                    raise ApiError(7, "No such node")
                parent_xpath = "/config" + "".join(
                    "/%s" % (tag if name is None else "%s[@name=%s]" % (tag, self._literal(name)))
                    for tag, name in steps[:-1])
                parent = self._locate(config, parent_xpath, create=True) if steps[:-1] else config
                tag, name = steps[-1]
                if new.tag != tag or (name is not None and new.get("name") != name):
                    raise ApiError(12, "Edit breaks config validity")
                if _is_scope(parent) and tag not in SCOPE_CHILDREN:
                    raise ApiError(12, "Could not find schema node for xpath %s" % xpath)
                replacement = copy.deepcopy(new)
                parent.append(replacement)
                return replacement
            if new.tag != old.tag or (old.get("name") is not None and new.get("name") != old.get("name")):
                raise ApiError(12, "Edit breaks config validity")
            replacement = copy.deepcopy(new)
            if old.get("uuid") and not replacement.get("uuid") and _object_kind(old) == "rule":
                replacement.set("uuid", old.get("uuid"))       # a rule keeps its identity across edits
            parent = old.getparent()
            if parent is None:
                raise ApiError(15, "Operation denied: the configuration root cannot be replaced")
            parent.replace(old, replacement)
            return replacement

        self._checked_change(change)
        return self._success(code=20, msg="command succeeded")

    @staticmethod
    def _literal(value):
        return "'%s'" % value if "'" not in value else '"%s"' % value

    def _config_delete(self, params):
        xpath = self._require_xpath(params)
        found = [n for n in self._select(self._candidate, xpath) if isinstance(n, etree._Element)]
        if not found:
            return self._success(code=7, msg="Object doesn't exist")
        if any(node.getparent() is None for node in found):
            raise ApiError(15, "Operation denied: the configuration root cannot be deleted")
        doomed = set()
        for node in found:
            doomed.update(id(n) for n in node.iter())
        for node in found:
            for obj in node.iter("entry"):
                kind = _object_kind(obj)
                if kind:
                    refs = self._references(obj, kind, doomed)
                    if refs:
                        raise ApiError(10, [" %s cannot be deleted because of references from:" % obj.get("name")]
                                       + [" " + ref for ref in refs])
        for node in found:
            node.getparent().remove(node)
        return self._success(code=20, msg="command succeeded")

    def _references(self, obj, kind, doomed):
        """Labels of the places (outside *doomed*) that refer to object *obj* of *kind*."""
        name = obj.get("name")
        scope = _scope_of(obj)
        if scope is None:
            return []
        if scope.tag == "shared":
            config = scope.getparent()
            # A vsys object of the same name shadows the shared one inside that vsys.
            scopes = [scope] + [v for v in _scopes(config) if name not in _names(v, kind)]
        else:
            scopes = [scope]
        if kind not in REFERENCE_FIELDS:
            return []
        refs = []
        for where in scopes:
            for member in where.iter("member"):
                if id(member) in doomed or (member.text or "").strip() != name:
                    continue
                if _is_reference(member, kind):
                    label = _label(member.getparent())
                    if label not in refs:
                        refs.append(label)
        return refs

    def _config_move(self, params):
        xpath = self._require_xpath(params)
        where = params.get("where")
        dst = params.get("dst")
        if where not in ("top", "bottom", "before", "after"):
            raise ApiError(17, "Invalid command: where must be top, bottom, before or after, not %r" % where)
        node = self._locate(self._candidate, xpath, create=False)
        if node is None:
            raise ApiError(7, "No such node")
        parent = node.getparent()
        if where in ("before", "after"):
            if not dst:
                raise ApiError(7, "no target specified in move")
            if dst == node.get("name"):
                raise ApiError(14, "Operation not possible: cannot move %s relative to itself" % dst)
            anchor = _find_child(parent, node.tag, dst)
            if anchor is None:
                raise ApiError(13, "Object not found: %s does not exist" % dst)
            parent.remove(node)
            if where == "before":
                anchor.addprevious(node)
            else:
                anchor.addnext(node)
        elif where == "top":
            parent.remove(node)
            parent.insert(0, node)
        else:
            parent.remove(node)
            parent.append(node)
        return self._success(code=20, msg="command succeeded")

    # -------------------------------------------------------------- commits and jobs
    def _commit_in_progress(self):
        return any(job["status"] == "ACT" for job in self._jobs.values())

    def _pending(self):
        return etree.tostring(self._candidate) != etree.tostring(self._running)

    def _commit(self, params):
        action = params.get("action")
        if action not in (None, "", "partial"):
            raise ApiError(400, 'Illegal value for parameter "action" [%s].' % action, http_status=400,
                           in_result=True)
        cmd = _parse_xml(params.get("cmd") or "<commit/>", "cmd")
        if cmd.tag != "commit":
            raise ApiError(17, "%s is unexpected" % cmd.tag)
        for child in cmd:
            if child.tag not in ("description", "partial", "force"):
                raise ApiError(17, "commit -> %s is unexpected" % child.tag)
        if self._commit_in_progress():
            raise ApiError(13, "Another commit/validate is in progress. Please try again later")
        force = cmd.find("force") is not None
        admins = [(m.text or "").strip() for m in cmd.findall("partial/admin/member")]
        mine = not admins or self.username in admins
        if not force and (not self._pending() or not mine):
            return self._success(code=19, msg="There are no changes to commit.")
        job = self._new_job("Commit", description=cmd.findtext("description"))
        self._commits += 1
        result = etree.Element("result")
        etree.SubElement(etree.SubElement(result, "msg"), "line").text = \
            "Commit job enqueued with jobid %d" % job["id"]
        etree.SubElement(result, "job").text = str(job["id"])
        return self._success(code=19, result=result)

    def _new_job(self, kind, description=None):
        now = self._now()
        job = {"id": self._next_job, "type": kind, "user": self.username, "status": "ACT", "result": "PEND",
               "tenq": now, "ends": now + self.commit_seconds, "tfin": None, "description": description or "",
               "details": [], "warnings": [], "snapshot": copy.deepcopy(self._candidate)}
        self._next_job += 1
        self._jobs[job["id"]] = job
        if now >= job["ends"]:
            self._finish_job(job)
        return job

    def _finish_job(self, job):
        errors = validate_config(job["snapshot"])
        job["status"] = "FIN"
        job["tfin"] = job["ends"]
        if errors:
            job["result"] = "FAIL"
            job["details"] = ["Validation Error:"] + errors
            if job["type"] == "Commit":
                job["details"].append("Commit failed")
                self._commits_failed += 1
        else:
            job["result"] = "OK"
            if job["type"] == "Commit":
                self._running = job["snapshot"]
                job["details"] = ["Configuration committed successfully"]
            else:
                job["details"] = ["Configuration is valid"]
        job["snapshot"] = None

    def _job_element(self, job):
        now = self._now()
        entry = etree.Element("job")
        active = job["status"] == "ACT"
        progress = 100 if not active else int(min(99, 100 * (now - job["tenq"]) / max(self.commit_seconds, 1e-6)))
        values = (
            ("tenq", _panos_time(job["tenq"])), ("tdeq", time.strftime("%H:%M:%S", time.localtime(job["tenq"]))),
            ("id", str(job["id"])), ("user", job["user"]), ("type", job["type"]), ("status", job["status"]),
            ("queued", "NO"), ("stoppable", "yes" if active else "no"), ("result", job["result"]),
            ("tfin", "Still Active" if active else _panos_time(job["tfin"])), ("description", job["description"]),
            ("positionInQ", "0"), ("progress", str(progress)),
        )
        for tag, text in values:
            etree.SubElement(entry, tag).text = text
        details = etree.SubElement(entry, "details")
        for line in job["details"]:
            etree.SubElement(details, "line").text = line
        warnings = etree.SubElement(entry, "warnings")
        for line in job["warnings"]:
            etree.SubElement(warnings, "line").text = line
        return entry

    # -------------------------------------------------------------- type=op
    def _op(self, params):
        cmd = _parse_xml(params.get("cmd"), "cmd")
        path = []
        node = cmd
        while True:
            path.append(node.tag)
            children = [c for c in node if isinstance(c.tag, str)]
            if len(children) != 1 or (node.text or "").strip() or " ".join(path) in (
                    "show object registered-ip", "show object dynamic-address-group", "show jobs",
                    "show object registered-user", "load config"):
                break
            node = children[0]
        label = " ".join(path)
        self._ops[label] += 1
        handlers = {
            "show system info": self._op_system_info,
            "show jobs": self._op_jobs,
            "check pending-changes": lambda n: self._result_text("yes" if self._pending() else "no"),
            "show config running": lambda n: self._op_show_config(self._running),
            "show config candidate": lambda n: self._op_show_config(self._candidate),
            "show object registered-ip": self._op_registered_ip,
            "show object dynamic-address-group": self._op_dynamic_groups,
            "show object registered-user": self._op_registered_user,
            "show clock": lambda n: self._result_text(time.strftime("%a %b %d %H:%M:%S UTC %Y\n",
                                                                    time.gmtime(self._now()))),
            "show high-availability state": lambda n: self._result_children((("enabled", "no"),)),
            "show commit-locks": lambda n: self._result_children((("commit-locks", None),)),
            "show config-locks": lambda n: self._result_children((("config-locks", None),)),
            "show chassis-ready": lambda n: self._result_text("yes"),
            "show panorama-status": lambda n: self._result_text(""),
            "show admins": self._op_admins,
            "load config": self._op_load_config,
            "revert config": lambda n: self._op_revert(),
            "validate full": self._op_validate,
        }
        handler = handlers.get(label)
        if handler is None:
            raise ApiError(17, "%s is unexpected" % " -> ".join(path))
        return handler(node)

    def _result_text(self, text):
        result = etree.Element("result")
        result.text = text
        return self._success(result=result)

    def _result_children(self, pairs):
        result = etree.Element("result")
        for tag, text in pairs:
            etree.SubElement(result, tag).text = text
        return self._success(result=result)

    def _op_system_info(self, _node):
        now = self._now()
        up = int(now - self._started)
        hostname = self._running.findtext("devices/entry/deviceconfig/system/hostname") or self.hostname
        values = (
            ("hostname", hostname), ("ip-address", "127.0.0.1"), ("public-ip-address", "unknown"),
            ("netmask", "255.0.0.0"), ("default-gateway", "127.0.0.1"), ("is-dhcp", "no"),
            ("ipv6-address", "unknown"), ("ipv6-link-local-address", "fe80::250:56ff:fe00:1/64"),
            ("mac-address", "00:50:56:00:00:01"),
            ("time", time.strftime("%a %b %d %H:%M:%S %Y\n", time.gmtime(now))),
            ("uptime", "%d days, %d:%02d:%02d" % (up // 86400, up % 86400 // 3600, up % 3600 // 60, up % 60)),
            ("devicename", hostname), ("family", "vm"), ("model", self.model), ("serial", self.serial),
            ("vm-mac-base", "7C:89:C1:00:00:00"), ("vm-mac-count", "256"),
            ("vm-uuid", "564D0000-0000-0000-0000-000000000001"), ("vm-license", "VM-100"),
            ("vm-cap-tier", "6.5 GB"), ("vm-cpu-count", "2"), ("vm-memory", "6.5GB"), ("vm-mode", "KVM"),
            ("cloud-mode", "non-cloud"), ("sw-version", self.sw_version),
            ("global-protect-client-package-version", "0.0.0"), ("device-dictionary-version", "95-436"),
            ("app-version", "8799-8509"), ("app-release-date", "2024/01/09 17:43:28 PST"),
            ("av-version", "0"), ("threat-version", "8799-8509"), ("wildfire-version", "0"),
            ("url-db", "paloaltonetworks"), ("url-filtering-version", "20240110.20187"),
            ("logdb-version", "10.2.1"), ("platform-family", "vm"), ("vpn-disable-mode", "off"),
            ("multi-vsys", "off"), ("ZTP", "Disabled"), ("operational-mode", "normal"),
            ("advanced-routing", "off"), ("device-certificate-status", "None"),
        )
        if self.is_panorama:
            values += (("system-mode", "panorama"),)
        result = etree.Element("result")
        system = etree.SubElement(result, "system")
        for tag, text in values:
            etree.SubElement(system, tag).text = text
        return self._success(result=result)

    def _op_jobs(self, node):
        what = [c for c in node if isinstance(c.tag, str)]
        result = etree.Element("result")
        if what and what[0].tag == "id":
            text = (what[0].text or "").strip().strip('"')
            if _uint(text) is None:
                raise ApiError(17, "show -> jobs -> id '%s' is invalid" % text)
            job = self._jobs.get(_uint(text))
            if job is None:
                raise ApiError(None, "job %s not found" % text)
            result.append(self._job_element(job))
        elif what and what[0].tag in ("all", "processed", "pending"):
            for job in reversed(list(self._jobs.values())):
                if what[0].tag == "processed" and job["status"] != "FIN":
                    continue
                if what[0].tag == "pending" and job["status"] == "FIN":
                    continue
                result.append(self._job_element(job))
        else:
            raise ApiError(17, "show -> jobs is incomplete: give id, all, processed or pending")
        return self._success(result=result)

    def _op_show_config(self, config):
        result = etree.Element("result")
        result.append(copy.deepcopy(config))
        return self._success(result=result)

    def _op_load_config(self, node):
        source = (node.findtext("from") or "").strip()
        if source != "running-config.xml":
            raise ApiError(17, "load -> config -> from '%s': only running-config.xml is available" % source)
        return self._op_revert()

    def _op_revert(self):
        self._candidate = copy.deepcopy(self._running)
        result = etree.Element("result")
        result.text = "Candidate configuration reverted to the running configuration"
        return self._success(result=result)

    def _op_validate(self, _node):
        if self._commit_in_progress():
            raise ApiError(13, "Another commit/validate is in progress. Please try again later")
        job = self._new_job("Validate")
        result = etree.Element("result")
        etree.SubElement(etree.SubElement(result, "msg"), "line").text = \
            "Validate job enqueued with jobid %d" % job["id"]
        etree.SubElement(result, "job").text = str(job["id"])
        return self._success(code=19, result=result)

    def _op_admins(self, _node):
        result = etree.Element("result")
        entry = etree.SubElement(etree.SubElement(result, "admins"), "entry")
        for tag, text in (("admin", self.username), ("from", request.remote_addr or "127.0.0.1"),
                          ("type", "Web"), ("start-from", _panos_time(self._started)),
                          ("idle-for", "00:00:00s")):
            etree.SubElement(entry, tag).text = text
        etree.SubElement(entry, "self")
        return self._success(result=result)

    @staticmethod
    def _paging(node, what):
        limit, start = None, 1
        text = node.findtext("limit")
        if text is not None:
            limit = _uint(text)
            if limit is None or not 1 <= limit <= MAX_REGISTERED_IP_PAGE:
                raise ApiError(17, "%s -> limit '%s' is invalid (1-%d)" % (what, text, MAX_REGISTERED_IP_PAGE))
        text = node.findtext("start-point")
        if text is not None:
            start = _uint(text)
            if start is None or start < 1:
                raise ApiError(17, "%s -> start-point '%s' is invalid" % (what, text))
        return limit, start

    def _op_registered_ip(self, node):
        limit, start = self._paging(node, "registered-ip")
        tags = [e.get("name") for e in node.findall("tag/entry") if e.get("name") is not None]
        ip_text = node.findtext("ip")
        network = None
        if ip_text is not None:
            try:
                network = ipaddress.ip_network(ip_text.strip(), strict=False)
            except ValueError:
                raise ApiError(17, "registered-ip -> ip '%s' is invalid" % ip_text)
        rows = []
        for ip in sorted(self._registered, key=_ip_sort_key):
            have = self._registered[ip]
            if tags and not any(t in have for t in tags):
                continue
            if network is not None and ipaddress.ip_address(ip) not in network:
                continue
            rows.append(ip)
        page = rows[start - 1:start - 1 + limit] if limit else rows[start - 1:]
        result = etree.Element("result")
        for ip in page:
            entry = etree.SubElement(result, "entry", {"ip": ip, "from_agent": "0",
                                                       "persistent": self._persistent.get(ip, "1")})
            tag_element = etree.SubElement(entry, "tag")
            for tag in sorted(self._registered[ip]):
                etree.SubElement(tag_element, "member").text = tag
        etree.SubElement(result, "count").text = str(len(page))
        return self._success(result=result)

    def _op_registered_user(self, node):
        user = node.findtext("user")
        all_node = node.find("all")
        limit, start = self._paging(all_node if all_node is not None else node, "registered-user")
        users = sorted(self._user_tags) if user is None else [u for u in self._user_tags if u == user]
        page = users[start - 1:start - 1 + limit] if limit else users[start - 1:]
        result = etree.Element("result")
        for name in page:
            entry = etree.SubElement(result, "entry", {"user": name})
            tag_element = etree.SubElement(entry, "tag")
            for tag in sorted(self._user_tags[name]):
                etree.SubElement(tag_element, "member").text = tag
        etree.SubElement(result, "count").text = str(len(page))
        return self._success(result=result)

    def _op_dynamic_groups(self, node):
        wanted = node.findtext("name")
        if wanted is None and node.find("all") is None:
            raise ApiError(17, "show -> object -> dynamic-address-group is incomplete: give all or name")
        running = self._running
        shared = running.find("shared")
        scopes = [(v.get("name"), v) for v in running.findall("devices/entry/vsys/entry")]
        if shared is not None:
            scopes.append((None, shared))
        result = etree.Element("result")
        groups = etree.SubElement(result, "dyn-addr-grp")
        for vsys, scope in scopes:
            for group in scope.findall("address-group/entry"):
                text = group.findtext("dynamic/filter")
                if text is None or (wanted is not None and group.get("name") != wanted):
                    continue
                try:
                    matches = parse_filter(text)
                except FilterError:
                    matches = _never         # an invalid filter matches nothing (and fails the next commit)
                entry = etree.SubElement(groups, "entry")
                if vsys is not None:
                    etree.SubElement(entry, "vsys").text = vsys
                etree.SubElement(entry, "group-name").text = group.get("name")
                etree.SubElement(entry, "filter").text = text
                members = etree.SubElement(entry, "member-list")
                for where in ([scope, shared] if scope is not shared else [shared]):
                    if where is None:
                        continue
                    for address in where.findall("address/entry"):
                        if matches(_members(address, "tag")):
                            etree.SubElement(members, "entry", name=address.get("name"), type="address-object")
                for ip in sorted(self._registered, key=_ip_sort_key):
                    if matches(self._registered[ip]):
                        etree.SubElement(members, "entry", name=ip, type="registered-ip")
        return self._success(result=result)

    # -------------------------------------------------------------- type=user-id
    @staticmethod
    def _timeout(member, unit_max):
        text = member.get("timeout")
        if text is None:
            return None, None
        seconds = _uint(text)
        if seconds is None or seconds > unit_max:
            return None, "timeout '%s' is invalid (0-%d)" % (text.strip(), unit_max)
        return seconds, None

    def _user_id(self, params):
        message = _parse_xml(params.get("cmd"), "cmd")
        if message.tag != "uid-message":
            raise ApiError(18, "Malformed Request: the User-ID message must be a <uid-message>")
        payload = message.find("payload")
        if payload is None:
            raise ApiError(18, "Malformed Request: <uid-message> has no <payload>")
        handlers = {"register": self._uid_register, "unregister": self._uid_unregister,
                    "register-user": self._uid_register_user, "unregister-user": self._uid_unregister_user,
                    "login": self._uid_login, "logout": self._uid_logout, "groups": self._uid_groups}
        for section in payload:
            if isinstance(section.tag, str) and section.tag not in handlers:
                raise ApiError(18, "Malformed Request: payload -> %s unexpected here" % section.tag)
        now = self._now()
        response = etree.Element("uid-response")
        etree.SubElement(response, "version").text = "2.0"
        answer = etree.SubElement(response, "payload")
        failed = False
        for section in payload:
            if not isinstance(section.tag, str):
                continue
            out = etree.SubElement(answer, section.tag)
            for attrs in handlers[section.tag](section, now):
                etree.SubElement(out, "entry", attrs)
                failed = True
        root = etree.Element("response", status="error" if failed else "success")
        if failed:
            etree.SubElement(etree.SubElement(root, "msg"), "line").append(response)
        else:
            etree.SubElement(root, "result").append(response)
        return root

    @staticmethod
    def _uid_ip(entry):
        try:
            return str(ipaddress.ip_address((entry.get("ip") or "").strip())), None
        except ValueError:
            return None, {"ip": entry.get("ip") or "", "message": "invalid ip address"}

    @staticmethod
    def _uid_tags(entry):
        return [(m, (m.text or "").strip()) for m in entry.findall("tag/member")]

    def _uid_register(self, section, now):
        problems = []
        for entry in section.findall("entry"):
            ip, problem = self._uid_ip(entry)
            if problem:
                problems.append(problem)
                continue
            tags = self._uid_tags(entry)
            if not tags:
                problems.append({"ip": ip, "message": "no tag to register"})
                continue
            for member, tag in tags:
                seconds, error = self._timeout(member, MAX_TAG_TIMEOUT)
                if error or not tag or len(tag) > 127:
                    problems.append({"ip": ip, "message": error or "tag '%s' is invalid" % tag})
                    continue
                table = self._registered.setdefault(ip, {})
                expiry = now + seconds if seconds else None
                if tag in table:
                    table[tag] = expiry            # re-registering refreshes (or removes) the timeout
                    problems.append({"ip": ip, "message": "tag %s already exists, ignore" % tag})
                else:
                    table[tag] = expiry
            if ip in self._registered:
                persistent = entry.get("persistent")
                if persistent in ("0", "1"):
                    self._persistent[ip] = persistent
            if not self._registered.get(ip):
                self._registered.pop(ip, None)
        return problems

    def _uid_unregister(self, section, _now):
        problems = []
        for entry in section.findall("entry"):
            ip, problem = self._uid_ip(entry)
            if problem:
                problems.append(problem)
                continue
            have = self._registered.get(ip, {})
            if entry.find("tag") is None:      # no <tag>: every tag of that IP
                if not have:
                    problems.append({"ip": ip, "message": "ip %s does not exist, ignore unreg" % ip})
                self._registered.pop(ip, None)
                self._persistent.pop(ip, None)
                continue
            for _member, tag in self._uid_tags(entry):
                if tag in have:
                    del have[tag]
                else:
                    problems.append({"ip": ip, "message": "tag %s does not exist, ignore unreg" % tag})
            if not have:
                self._registered.pop(ip, None)
                self._persistent.pop(ip, None)
        return problems

    def _uid_register_user(self, section, now):
        problems = []
        for entry in section.findall("entry"):
            user = (entry.get("user") or "").strip()
            if not user:
                problems.append({"user": "", "message": "user is missing"})
                continue
            for member, tag in self._uid_tags(entry):
                seconds, error = self._timeout(member, MAX_TAG_TIMEOUT)
                if error or not tag:
                    problems.append({"user": user, "message": error or "tag is empty"})
                    continue
                table = self._user_tags.setdefault(user, {})
                if tag in table:
                    problems.append({"user": user, "message": "tag %s already exists, ignore" % tag})
                table[tag] = now + seconds if seconds else None
        return problems

    def _uid_unregister_user(self, section, _now):
        problems = []
        for entry in section.findall("entry"):
            user = (entry.get("user") or "").strip()
            have = self._user_tags.get(user, {})
            if entry.find("tag") is None:
                self._user_tags.pop(user, None)
                continue
            for _member, tag in self._uid_tags(entry):
                if tag in have:
                    del have[tag]
                else:
                    problems.append({"user": user, "message": "tag %s does not exist, ignore unreg" % tag})
            if not have:
                self._user_tags.pop(user, None)
        return problems

    def _uid_login(self, section, now):
        problems = []
        for entry in section.findall("entry"):
            ip, problem = self._uid_ip(entry)
            if problem:
                problems.append(problem)
                continue
            minutes, error = self._timeout(entry, 43200)
            if error:
                problems.append({"ip": ip, "message": error})
                continue
            self._ip_users[ip] = (entry.get("name") or "", now + 60 * minutes if minutes else None)
        return problems

    def _uid_logout(self, section, _now):
        for entry in section.findall("entry"):
            ip, problem = self._uid_ip(entry)
            if ip is not None:
                self._ip_users.pop(ip, None)
        return []

    def _uid_groups(self, section, _now):
        for entry in section.findall("entry"):
            self._groups[entry.get("name") or ""] = [e.get("name") for e in entry.findall("members/entry")]
        return []


def main(argv=None):
    parser = argparse.ArgumentParser(description="PAN-OS XML API simulator (a PA-VM firewall; HTTPS, self-signed).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="port to listen on (0 = any free port)")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--commit-seconds", type=float, default=0.2,
                        help="how long a commit job stays ACT before FIN")
    parser.add_argument("--panorama", action="store_true", help="be a Panorama (device groups) instead")
    parser.add_argument("--device-group", action="append", dest="device_groups", metavar="NAME",
                        help="a device group of the Panorama (repeat; default: branch-offices)")
    args = parser.parse_args(argv)

    sim = PanosSimulator(username=args.username, password=args.password, host=args.host, port=args.port,
                         commit_seconds=args.commit_seconds, model="Panorama" if args.panorama else "PA-VM",
                         hostname="Panorama" if args.panorama else "PA-VM",
                         device_groups=args.device_groups or ("branch-offices",)).start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print("PAN-OS simulator ready at %s" % sim.url, flush=True)
    while not stop.wait(1.0):
        pass
    sim.stop()
    print("PAN-OS simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
