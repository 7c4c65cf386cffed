# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one PAN-OS client, on pan-os-python.

Shared by the panos_* modules, vm_tag_sync and the listener's panos plugin: connecting (with TLS
verification, which pan-os-python itself does not do), object-name validation (names end up in XPath),
idempotent candidate-config changes, the registered-IP table (read in pages, written in ONE User-ID call
per change set) and commit (waiting while another commit runs). Every failure is a PanosError whose text
a network engineer can act on.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import contextlib
import ipaddress
import os
import re
import time
import traceback
import xml.etree.ElementTree as ET

from ansible_collections.netevents.nutanix.plugins.module_utils.tls import client_context

PANOS_IMPORT_ERROR = None
try:
    import pan.xapi
    import panos
    from panos.base import PanDevice
    from panos.errors import PanCommitInProgress, PanObjectMissing
    from panos.firewall import Firewall, FirewallCommit
    from panos.objects import AddressGroup, AddressObject, Tag
    from panos.panorama import DeviceGroup, Panorama, PanoramaCommit
    from panos.policies import PostRulebase, PreRulebase, Rulebase, SecurityRule
except ImportError:
    HAS_PANOS = False
    PANOS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PANOS = True

DEFAULT_API_TIMEOUT = 60
COMMIT_POLL_INTERVAL = 0.5  # as pan-os-python polls jobs

# Conservative PAN-OS names: letters, digits, '_', '.', '-' and inner spaces. No quote, '<', '>', '&', '/',
# '[', ']', '@', '=' can reach an XPath predicate or the XML, whatever the caller forgot to escape.
_NAME_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_. -]*[A-Za-z0-9_.-])?$")
MAX_NAME_LENGTH = {
    "tag": 127,
    "address": 63,
    "address_group": 63,
    "rule": 63,
    "application": 63,
    "service": 63,
    "zone": 31,
    "device_group": 31,
    "admin": 31,
}
_VSYS_RE = re.compile(r"^vsys[0-9]{1,3}$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$")
_PANORAMA_MODELS = ("Panorama", "M-")


class PanosError(Exception):
    """A PAN-OS failure, with a message meant for the person running the playbook.

    unavailable -- None when the device answered this request with an error (the request is at fault), else why
    the device could not be used at all, whatever was asked: "unreachable", "timeout", "TLS failure",
    "credentials refused", "HTTP 503", "not PAN-OS" (the listener then waits for the device instead of failing
    events).
    """

    def __init__(self, message, unavailable=None):
        super(PanosError, self).__init__(message)
        self.unavailable = unavailable


def validate_name(name, kind="tag"):
    """Return *name* if it is a safe PAN-OS name of that kind, else raise ValueError."""
    if kind not in MAX_NAME_LENGTH:
        raise ValueError("unknown kind of PAN-OS name %r" % (kind,))
    limit = MAX_NAME_LENGTH[kind]
    label = kind.replace("_", " ")
    if not isinstance(name, str) or not name:
        raise ValueError("the %s name must be a non-empty string, not %r" % (label, name))
    if len(name) > limit:
        raise ValueError("the %s name %r is %d characters long; PAN-OS allows at most %d"
                         % (label, name, len(name), limit))
    if not _NAME_RE.match(name):
        raise ValueError("the %s name %r is not accepted: use letters, digits, '_', '.', '-' and inner spaces, "
                         "starting with a letter, digit or '_'" % (label, name))
    return name


def validate_vsys(vsys):
    if not isinstance(vsys, str) or not _VSYS_RE.match(vsys):
        raise ValueError("vsys must look like 'vsys1', not %r" % (vsys,))
    return vsys


def validate_address(value):
    """An address member of a rule or group: 'any', an address name, an IP, a network or a range."""
    if value == "any":
        return value
    candidate = value.split("-", 1) if isinstance(value, str) and value.count("-") == 1 else [value]
    try:
        for part in candidate:
            ipaddress.ip_network(part, strict=False)
        return value
    except (ValueError, TypeError):
        return validate_name(value, "address")


def normalize_ip(ip):
    """One spelling per address ('10.0.0.5', '2001:db8::5'), so tables compare; ValueError if not an IP."""
    try:
        return str(ipaddress.ip_address(str(ip).strip()))
    except ValueError:
        raise ValueError("%r is not an IPv4 or IPv6 address" % (ip,))


# A dynamic address group filter, as PAN-OS documents it: tags in single quotes, combined with the operators
# 'and' and 'or', grouped with parentheses. No 'not' (PAN-OS documents none, and rejects the config at commit).
MAX_FILTER_LENGTH = 2047
_FILTER_TOKEN_RE = re.compile(r"\s*(?:(\()|(\))|'([^']*)'|([^\s()]+))")


def validate_dynamic_filter(text):
    """Return *text* if it is a dynamic address group filter PAN-OS accepts, else raise ValueError."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("dynamic_filter must not be empty; use static_members for a static group")
    if len(text) > MAX_FILTER_LENGTH:
        raise ValueError("dynamic_filter is longer than the %d characters PAN-OS allows" % MAX_FILTER_LENGTH)
    depth, want_operand = 0, True
    for match in _FILTER_TOKEN_RE.finditer(text.rstrip()):
        opening, closing, tag, word = match.groups()
        token = match.group(0).strip()
        where = "at character %d of dynamic_filter" % (match.end() - len(token) + 1)
        if want_operand and opening:
            depth += 1
            continue
        if want_operand and tag is not None:
            if not tag.strip() or len(tag) > MAX_NAME_LENGTH["tag"]:
                raise ValueError("the tag %s %s must have 1 to %d characters" % (token, where, MAX_NAME_LENGTH["tag"]))
            want_operand = False
            continue
        if not want_operand and word in ("and", "or"):
            want_operand = True
            continue
        if not want_operand and closing and depth:
            depth -= 1
            continue
        if word is not None and word.lower() == "not":
            raise ValueError("'not' %s: PAN-OS filters have no negation, only 'and', 'or' and parentheses; give "
                             "the VMs to match a tag of their own instead" % where)
        raise ValueError("unexpected %s %s: write tags in single quotes, such as 'web', joined by and or or (in "
                         "lower case), with parentheses to group them" % (token, where))
    if want_operand or depth:
        raise ValueError("dynamic_filter ends too early: %s is missing" % ("a tag" if want_operand else "')'"))
    return text


# --- connection -------------------------------------------------------------------------------------------

def ssl_context(validate_certs=True, ca_path=None):
    """The TLS context for every API call. pan.xapi skips verification when given none, so we always give one."""
    try:
        return client_context(validate_certs, ca_path)
    except ValueError as e:
        raise PanosError("provider.ca_path: %s" % e)


_HTTP_STATUS_RE = re.compile(r"\bcode: (\d{3})\b(?: reason: (.*))?")
_NOT_PANOS = ("this is not the XML API of a PAN-OS firewall or Panorama: check provider.ip_address and "
              "provider.port (the HTTPS management port, 443 unless changed)")


def describe_error(exc, where="the PAN-OS device"):
    """Turn a pan.xapi / pan-os-python / socket error into a sentence (never containing a key or password)."""
    text = str(exc).strip()
    low = text.lower()
    status = _HTTP_STATUS_RE.search(text)
    if "certificate_verify_failed" in low or "certificate verify failed" in low or "hostname mismatch" in low:
        return ("the TLS certificate of %s could not be verified (%s). Give the CA that signed it (or the "
                "self-signed certificate itself) in provider.ca_path, or set provider.validate_certs: false "
                "on a trusted network" % (where, text.split("reason:", 1)[-1].strip()))
    if "code: 403" in low or "invalid credential" in low or text == "Invalid credentials.":
        return ("%s refused the credentials (HTTP 403): check provider.username/password or provider.api_key, "
                "and that the admin role allows XML API access" % where)
    if "code: 401" in low:
        return "%s refused the request (HTTP 401): the API key is invalid or expired" % where
    if status and status.group(1) in ("404", "405"):
        return "%s answered HTTP %s (%s) at /api/: %s" % (where, status.group(1), status.group(2) or "", _NOT_PANOS)
    if status:
        return "%s answered HTTP %s (%s)" % (where, status.group(1), (status.group(2) or "").strip())
    if "no handler for content-type" in low:
        kind = re.findall(r"'([^']+)'", text)
        return "%s answered with %s content, not XML: %s" % (where, kind[0] if kind else "unknown", _NOT_PANOS)
    if "parseerror" in low:
        return "%s answered something that does not parse as XML (%s): %s" % (where, text, _NOT_PANOS)
    if "connection refused" in low:
        return "cannot connect to %s: connection refused (is the management interface reachable on that port?)" % where
    if "timed out" in low:
        return "no answer from %s in time (%s)" % (where, text)
    if "name or service not known" in low or "nodename nor servname" in low or "temporary failure in name" in low:
        return "cannot resolve the host name of %s" % where
    if "ssl" in low and ("wrong version" in low or "eof occurred" in low or "handshake" in low):
        return "TLS handshake with %s failed (%s): is this the HTTPS management port?" % (where, text)
    if low.startswith("urlerror:"):
        return "cannot reach %s: %s" % (where, text[len("urlerror:"):].strip())
    return "%s answered: %s" % (where, text)


def unavailable_reason(exc):
    """Why *exc* (a pan.xapi / pan-os-python / socket error) means the device cannot be used at all, or None when
    the device answered the request itself with an error (pan.xapi prefixes transport failures with URLError)."""
    low = str(exc).strip().lower()
    if "invalid credential" in low:
        return "credentials refused"
    if not (isinstance(exc, OSError) or low.startswith(("urlerror", "ssl."))):
        return "not PAN-OS" if "no handler for content-type" in low or "parseerror" in low else None
    status = _HTTP_STATUS_RE.search(low)
    code = int(status.group(1)) if status else None
    if "certificate" in low or "ssl" in low or "tls" in low:
        return "TLS failure"
    if code in (401, 403):
        return "credentials refused"
    if "timed out" in low or "timeout" in low:
        return "timeout"
    if code in (404, 405):
        return "not PAN-OS"
    if code is not None:
        return "HTTP %d" % code if code >= 500 or code in (408, 429) else None
    return "unreachable"


_LIBRARY_DIRS = tuple(os.path.dirname(module.__file__) + os.sep for module in (pan.xapi, panos)) if HAS_PANOS else ()


def _raised_in_library(exc):
    """Whether *exc* came up through pan-python or pan-os-python code (rather than only through ours)."""
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
            return True
        frame = frame.tb_next
    return False


@contextlib.contextmanager
def api_errors(where="the PAN-OS device"):
    """Re-raise what pan-os-python, pan-python or the network under them raise in the block as a PanosError.

    An exception raised by our own code passes through as it is: a bug of ours is no device problem.
    """
    try:
        yield
    except PanosError:
        raise
    except Exception as e:
        if HAS_PANOS and isinstance(e, pan.xapi.PanXapiError):  # and all of panos.errors
            raise PanosError(describe_error(e, where), unavailable_reason(e))
        if not _raised_in_library(e):
            raise
        if isinstance(e, OSError):  # ssl.SSLError and socket errors
            raise PanosError(describe_error(e, where), unavailable_reason(e) or "unreachable")
        # pan-os-python indexes the device's answers blindly; a missing element must not become a traceback.
        raise PanosError("unexpected answer from %s (%s: %s)" % (where, type(e).__name__, e))


def device_label(device):
    """'host:port' of the device behind *device*, for messages."""
    dev = device.nearest_pandevice() if hasattr(device, "nearest_pandevice") else device
    host = getattr(dev, "hostname", None)
    if host is None and hasattr(dev, "panorama"):
        return "firewall %s through Panorama %s" % (dev.serial, dev.panorama().hostname)
    return "%s:%s" % (host, getattr(dev, "port", 443))


def _secure(device, context):
    # pan-os-python builds its pan.xapi objects without an SSL context; hand ours to the cached one.
    device.xapi.ssl_context = context
    return device


def connect(provider, vsys="vsys1", device_group=None, timeout=DEFAULT_API_TIMEOUT):
    """Connect and return where objects live: a Firewall (at *vsys*), a Panorama, or a Panorama DeviceGroup.

    provider -- dict as in paloaltonetworks.panos: ip_address, username, password or api_key, port,
                serial_number (a firewall reached through Panorama), plus validate_certs and ca_path.
    """
    if not HAS_PANOS:
        raise PanosError("the pan-os-python library is not installed (pip install pan-os-python)")
    p = dict(provider or {})
    host = p.get("ip_address")
    if not host or not _HOST_RE.match(str(host)):
        raise PanosError("provider.ip_address must be a host name or an IP address, not %r" % (host,))
    port = int(p.get("port") or 443)
    if not 0 < port < 65536:
        raise PanosError("provider.port %s is not a TCP port" % port)
    try:
        vsys = validate_vsys(vsys or "vsys1")
        if device_group is not None:
            validate_name(device_group, "device_group")
    except ValueError as e:
        raise PanosError(str(e))
    serial = p.get("serial_number")
    context = ssl_context(p.get("validate_certs", True), p.get("ca_path"))
    where = "%s:%s" % (host, port)

    with api_errors(where):
        key = p.get("api_key")
        if not key:
            if not p.get("password"):
                raise PanosError("provider.password or provider.api_key is required (or PANOS_PASSWORD or "
                                 "PANOS_API_KEY in the environment)")
            keygen = pan.xapi.PanXapi(api_username=p.get("username") or "admin", api_password=p["password"],
                                      hostname=host, port=port, timeout=timeout, ssl_context=context)
            key = keygen.keygen()
        probe = _secure(PanDevice(host, api_key=key, port=port, timeout=timeout), context)
        info = probe.show_system_info()
        system = info.get("system") if isinstance(info, dict) else None
        if not isinstance(system, dict):
            raise PanosError("%s answered 'show system info' without <system>: %s" % (where, _NOT_PANOS),
                             "not PAN-OS")
        model = str(system.get("model") or "")
        cls = Panorama if model.startswith(_PANORAMA_MODELS) else Firewall
        device = _secure(cls(host, api_key=key, port=port, timeout=timeout), context)
        # What PanDevice.create_from_device does, without a second "show system info".
        device._save_system_info(info)
        device.netevents_system_info = dict(system)  # for platform_capacity()

        if cls is Firewall:
            if device_group:
                raise PanosError("device_group is for Panorama, but %s is a firewall (%s): use vsys"
                                 % (where, model or "unknown model"))
            device.vsys = vsys
            return device
        if serial:
            if device_group:
                raise PanosError("give either provider.serial_number (a firewall through Panorama) or "
                                 "device_group (Panorama's own config), not both")
            firewall = Firewall(serial=serial, vsys=vsys)
            device.add(firewall)
            _secure(firewall, context)
            firewall.refresh_system_info()
            return firewall
        if device_group:
            names = [dg.name for dg in DeviceGroup.refreshall(device, add=False, name_only=True)]
            if device_group not in names:
                raise PanosError("device group %r does not exist on Panorama %s (it has: %s)"
                                 % (device_group, where, ", ".join(sorted(names)) or "none"))
            group = DeviceGroup(device_group)
            device.add(group)
            return group
        return device


def pan_device(parent):
    """The Firewall or Panorama that talks to the API for *parent* (a device, device group or rulebase)."""
    return parent.nearest_pandevice()


def is_panorama(parent):
    return HAS_PANOS and isinstance(pan_device(parent), Panorama)


# --- candidate-config objects -----------------------------------------------------------------------------

def _object_class(kind):
    return {"tag": Tag, "address_group": AddressGroup, "rule": SecurityRule}[kind]


def tag_color_id(color):
    """PAN-OS color id ('color1') of a color name as shown in the web interface ('red')."""
    return Tag.color_code(color)


def rulebase(parent, post=False):
    """The security rulebase under *parent*: the firewall's, or Panorama's pre- (or post-) rulebase."""
    base = (PostRulebase if post else PreRulebase)() if is_panorama(parent) else Rulebase()
    parent.add(base)
    return base


def find_object(parent, kind, name):
    """The object (kind 'tag', 'address_group' or 'rule') named *name* under *parent* in the candidate config."""
    obj = _object_class(kind)(name)
    parent.add(obj)
    with api_errors(device_label(parent)):
        try:
            obj.refresh()
        except PanObjectMissing:
            parent.remove(obj)
            return None
    return obj


def list_names(parent, kind):
    """Names of every object of that kind under *parent*, in configuration order (one API call)."""
    with api_errors(device_label(parent)):
        return [obj.name for obj in _object_class(kind).refreshall(parent, add=False, name_only=True)]


def move_object(obj, location, ref=None):
    """Move a rule to top/bottom, or before/after the rule named *ref*."""
    with api_errors(device_label(obj)):
        obj.move(location, ref if location in ("before", "after") else None)


def _same(current, wanted):
    if isinstance(wanted, list) or isinstance(current, list):
        return sorted(_as_list(current)) == sorted(_as_list(wanted))
    return (current or None) == (wanted or None)


def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _view(obj, fields):
    """Option name -> current value (lists sorted) of an object, for before/after."""
    if obj is None:
        return {}
    view = {}
    for option, param in fields.items():
        value = getattr(obj, param)
        if isinstance(value, list) or param in _LIST_PARAMS:
            value = sorted(_as_list(value))
        view[option] = value
    return view


_LIST_PARAMS = frozenset(("tag", "static_value", "fromzone", "tozone", "source", "destination", "application",
                          "service"))


def sync_object(parent, kind, name, fields, wanted, state="present", check_mode=False, defaults=None,
                create_needs=()):
    """Make one candidate-config object match *wanted*; return (changed, before, after, obj).

    kind     -- 'tag', 'address_group' or 'rule' (then *parent* is a rulebase()).
    fields   -- option name -> pan-os-python parameter of the options this caller manages.
    wanted   -- option name -> value. None leaves the current value (a new object gets *defaults*);
                "" or [] clears it.
    create_needs -- options of which a new object needs at least one (else ValueError).
    Changed parameters are written one by one (``update``), so config this module does not model
    (log settings, profiles, the rule's uuid) is never rewritten.
    """
    existing = find_object(parent, kind, name)
    before = _view(existing, fields)
    where = device_label(parent)
    if state == "absent":
        if existing is None:
            return False, {}, {}, None
        if not check_mode:
            with api_errors(where):
                existing.delete()
        return True, before, {}, None

    if existing is None:
        if create_needs and all(wanted.get(k) in (None, "", []) for k in create_needs):
            raise ValueError("the %s %r does not exist yet: to create it give %s"
                             % (kind.replace("_", " "), name, " or ".join(create_needs)))
        values = dict(defaults or {})
        values.update((k, v) for k, v in wanted.items() if v not in (None, "", []))
        obj = _object_class(kind)(name, **dict((fields[k], v) for k, v in values.items()))
        parent.add(obj)
        if not check_mode:
            with api_errors(where):
                obj.create()
        return True, {}, _view(obj, fields), obj

    changes = [(fields[k], v) for k, v in sorted(wanted.items()) if v is not None
               and not _same(getattr(existing, fields[k]), v)]
    # Clearing first: PAN-OS keeps one of an address group's static/dynamic, so drop the old before the new.
    changes.sort(key=lambda change: change[1] not in ("", []))
    for param, value in changes:
        setattr(existing, param, None if value in ("", []) else value)
    if changes and not check_mode:
        with api_errors(where):
            for param, _value in changes:
                _write(existing, param)
    return bool(changes), before, _view(existing, fields), existing


# Parameters that sit below a node of their own: written (or deleted) as that whole node, so that no empty
# <dynamic/> is left behind and no edit depends on a parent node that does not exist yet.
_OWN_NODE = {"dynamic_value": "dynamic"}


def _write(obj, param):
    """Write one parameter of *obj* to the candidate config (edit, or delete when it is None)."""
    node = _OWN_NODE.get(param)
    if node is None:
        obj.update(param)
        return
    xapi = obj.nearest_pandevice().xapi
    xpath = "%s/%s" % (obj.xpath(), node)
    if getattr(obj, param) is None:
        xapi.delete(xpath)
    else:
        xapi.edit(xpath, ET.tostring(obj.element().find(node), encoding="unicode"))


# --- registered IPs (User-ID) -----------------------------------------------------------------------------

def get_registered_ips(device, tag=None):
    """The registered-IP table {ip: set(tags)}, every page (start-point/limit); only *tag* when given."""
    dev = pan_device(device)
    if tag is not None:
        validate_name(tag, "tag")
    with api_errors(device_label(dev)):
        table = dev.userid.get_registered_ip(tags=tag)
    return dict((normalize_ip(ip), set(tags)) for ip, tags in table.items())


def _timeout_for(timeout, tag):
    if isinstance(timeout, dict):
        timeout = timeout.get(tag)
    return None if timeout in (None, 0) else int(timeout)


def build_uid_message(register=None, unregister=None, timeout=None):
    """One <uid-message> for a whole change set; None when there is nothing to send.

    register / unregister -- {ip: iterable of tags}; timeout -- seconds for every registered tag, or
    {tag: seconds}; None or 0 means the tag never expires.
    """
    root = ET.fromstring("<uid-message><version>1.0</version><type>update</type><payload/></uid-message>")
    payload = root.find("payload")
    for section, table in (("register", register), ("unregister", unregister)):
        entries = [(normalize_ip(ip), sorted(set(validate_name(t, "tag") for t in tags)))
                   for ip, tags in sorted((table or {}).items())]
        entries = [(ip, tags) for ip, tags in entries if tags]
        if not entries:
            continue
        element = ET.SubElement(payload, section)
        for ip, tags in entries:
            tag_element = ET.SubElement(ET.SubElement(element, "entry", {"ip": ip}), "tag")
            for tag in tags:
                member = ET.SubElement(tag_element, "member")
                seconds = _timeout_for(timeout, tag) if section == "register" else None
                if seconds is not None:
                    member.set("timeout", str(seconds))
                member.text = tag
    return root if len(payload) else None


# Answers to one entry of a User-ID message that change nothing (pan-os-python ignores them too).
_BENIGN_UID_ANSWERS = ("already exists, ignore", "does not exist, ignore unreg")
# How a firewall refuses a new registered IP when it holds its platform's maximum. The API's own wording is not
# public (the system log says "max registered-ip for the platform reached"): any of these words count.
_FULL_RE = re.compile(r"max\w*\W+(number\W+of\W+)?registered.?ip|registered.?ips?\b.*\b(limit|maximum|capacity|full)",
                      re.IGNORECASE)


class RegistrationRefused(PanosError):
    """The firewall took a User-ID message but refused some of its entries; it applied the others.

    refused -- {ip: [the firewall's messages]}; full -- the IPs among them refused because the firewall holds its
    platform's maximum of registered IPs.
    """

    def __init__(self, message, refused):
        super(RegistrationRefused, self).__init__(message)
        self.refused = refused
        self.full = set(ip for ip, messages in refused.items() if any(is_full_answer(m) for m in messages))


def is_full_answer(message):
    """Whether a User-ID entry's answer says the firewall holds its maximum of registered IPs (not of tags)."""
    return bool(_FULL_RE.search(message or "")) and "tag" not in message.lower()


def _refused_entries(root):
    """{ip: [message]} of the entries a User-ID answer refused (benign answers left out), or None when *root* is
    not a per-entry answer (a malformed message, an authentication error, ...)."""
    answer = root.find("msg/line/uid-response") if root is not None else None
    if answer is None:
        return None
    refused = {}
    for entry in answer.iter("entry"):
        message = (entry.get("message") or "").strip()
        if message.endswith(_BENIGN_UID_ANSWERS):
            continue
        ip = entry.get("ip") or ""
        try:
            ip = normalize_ip(ip)
        except ValueError:
            pass
        refused.setdefault(ip, []).append(message)
    return refused


def apply_registered_ips(device, register=None, unregister=None, timeout=None):
    """Register and unregister IP tags in ONE User-ID API call; return the number of calls made (0 or 1).

    Registered tags are live at once (dynamic address groups follow) and need no commit. An answer that refuses
    some entries (the firewall applied the others) raises RegistrationRefused naming them; benign answers ("already
    exists", "does not exist") are not errors.
    """
    message = build_uid_message(register, unregister, timeout)
    if message is None:
        return 0
    dev = pan_device(device)
    where = device_label(dev)
    with api_errors(where):
        try:
            # Not UserId.send(): it drops the whole error when only its LAST entry is benign, which would hide a
            # full firewall's refusals behind an "already exists" of a tag registered again.
            dev.xapi.user_id(cmd=ET.tostring(message, encoding="unicode"), vsys=dev.vsys)
        except pan.xapi.PanXapiError:
            refused = _refused_entries(dev.xapi.element_root)
            if refused is None:
                raise
            if refused:
                shown = sorted(refused.items())[:5]
                raise RegistrationRefused("%s refused %d registered IP(s): %s%s" % (
                    where, len(refused), "; ".join("%s: %s" % (ip, ", ".join(m)) for ip, m in shown),
                    "; ..." if len(refused) > len(shown) else ""), refused)
    return 1


# --- platform limits --------------------------------------------------------------------------------------

MAX_TAGS_PER_IP = 32            # tags one registered IP holds (User-ID)
MAX_TAGS_PER_OBJECT = 64        # tags one address object holds
# Registered IPs each platform holds (PAN-OS datasheets; a range or network counts as one), by the model
# `show system info` reports; VM-Series report model PA-VM and their tier as vm-license.
REGISTERED_IP_CAPACITY = {
    "VM-50": 1000, "VM-100": 1000, "VM-200": 1000, "VM-300": 200000, "VM-500": 300000, "VM-700": 300000,
    "PA-220": 1000, "PA-410": 1000, "PA-415": 1000, "PA-440": 1000, "PA-820": 1000, "PA-850": 1000,
    "PA-450": 100000, "PA-460": 100000, "PA-5450": 100000, "PA-7050": 100000, "PA-7080": 100000,
    "PA-3220": 200000, "PA-3250": 200000, "PA-3260": 200000, "PA-3410": 200000, "PA-3420": 200000,
    "PA-3430": 200000, "PA-3440": 200000,
    "PA-5220": 500000, "PA-5250": 500000, "PA-5260": 500000, "PA-5280": 500000, "PA-5410": 500000,
    "PA-5420": 500000, "PA-5430": 500000, "Panorama": 500000,
}


def platform_capacity(device):
    """(the platform's name, its registered-IP capacity or None when unknown) by `show system info` (as connect()
    read it; asked again otherwise)."""
    dev = pan_device(device)
    system = getattr(dev, "netevents_system_info", None)
    if system is None:
        with api_errors(device_label(dev)):
            info = dev.show_system_info()
        system = info.get("system") if isinstance(info, dict) else None
        system = system if isinstance(system, dict) else {}
    model = str(system.get("model") or "").strip()
    if model == "PA-VM":
        model = str(system.get("vm-license") or model).strip()
    if model.startswith(_PANORAMA_MODELS):
        return model, REGISTERED_IP_CAPACITY["Panorama"]
    found = dict((k.upper(), v) for k, v in REGISTERED_IP_CAPACITY.items()).get(model.upper())
    return model or "unknown model", found


class RegisteredIpPlan(object):
    """What one User-ID call must register and unregister: {ip: set(tags)} each."""

    def __init__(self, register, unregister, unchanged):
        self.register = register
        self.unregister = unregister
        self.unchanged = unchanged  # IPs whose managed tags are already right

    @property
    def changed(self):
        return bool(self.register or self.unregister)

    def summary(self):
        return {"added": sum(len(t) for t in self.register.values()),
                "removed": sum(len(t) for t in self.unregister.values()), "unchanged": self.unchanged,
                "ips_registered": len(self.register), "ips_unregistered": len(self.unregister)}

    def after(self, current):
        """The table *current* ({ip: tags}) once the plan is applied."""
        table = dict((ip, set(tags)) for ip, tags in current.items())
        for ip, tags in self.register.items():
            table.setdefault(ip, set()).update(tags)
        for ip, tags in self.unregister.items():
            table[ip] = table.get(ip, set()) - tags
            if not table[ip]:
                del table[ip]
        return table


def plan_registered_ips(desired, current, owns=None, scope=None, refresh=False):
    """The one register/unregister planner: what makes the managed tags of *current* equal *desired*.

    Used by panos_registered_ip, the reconcile (vm_tag_sync and the listener) and the listener's per-batch change set.
    desired, current -- {ip: set(tags)}; *current* is the device's table, or what the caller registered before.
    owns    -- a predicate on tag names: the tags the caller manages (None: all); the others are never unregistered.
    scope   -- only these IPs are looked at (None: every IP of either table).
    refresh -- register every desired tag, not only those *current* lacks: for a caller whose *current* is its own
               memory, so a device that lost them (a reboot) gets them back and their timeouts start again.
    """
    register, unregister, unchanged = {}, {}, 0
    for ip in sorted(set(desired) | set(current) if scope is None else set(scope)):
        want = set(desired.get(ip, ()))
        have = set(t for t in current.get(ip, ()) if owns is None or owns(t))
        if want and (refresh or want - have):
            register[ip] = want if refresh else want - have
        if have - want:
            unregister[ip] = have - want
        if want and want == have:
            unchanged += 1
    return RegisteredIpPlan(register, unregister, unchanged)


# --- address objects (the listener's address-object mode) -------------------------------------------------

def address_name(prefix, ip):
    """The address object of an IP: prefix + the address (':' of IPv6 as '-', names may not hold ':')."""
    return validate_name(prefix + ip.replace(":", "-"), "address")


# The address objects to create and edit (pan-os-python AddressObjects) and delete (names), and the tag objects
# the new and edited ones refer to.
AddressObjectPlan = collections.namedtuple("AddressObjectPlan", "create edit delete tags")


def plan_address_objects(parent, desired, prefix, owns, scope=None):
    """Compare the address objects named *prefix* + IP under *parent* with *desired* {ip: (tags, description)}.

    Tags that *owns* refuses (set on an object by someone else) are kept. scope -- the IPs to look at (None: every
    object with the prefix, as a reconcile wants). One API call: every address object is read at once.
    """
    with api_errors(device_label(parent)):
        parent.removeall()
        current = dict((o.name, o) for o in AddressObject.refreshall(parent, add=False) if o.name.startswith(prefix))
    wanted = dict((address_name(prefix, ip), (ip, set(tags), description))
                  for ip, (tags, description) in desired.items() if tags)
    names = set(wanted) | (set(current) if scope is None else set(address_name(prefix, ip) for ip in scope))
    create, edit, delete, tags_used = [], [], [], set()
    for name in sorted(names):
        obj = current.get(name)
        if name not in wanted:
            if obj is not None:
                delete.append(name)
            continue
        ip, tags, description = wanted[name]
        tags_used |= tags
        tags = sorted(tags | set(t for t in (obj.tag or []) if not owns(t)) if obj is not None else tags)
        new = AddressObject(name, ip, type="ip-netmask", description=description, tag=tags)
        if obj is None:
            create.append(new)
        elif (obj.value, obj.type, sorted(obj.tag or []), obj.description) != (ip, "ip-netmask", tags, description):
            edit.append(new)
    return AddressObjectPlan(create, edit, delete, sorted(tags_used))


def apply_address_objects(parent, plan):
    """Write *plan* to the candidate config (no commit): the tags first, then one call per kind of change."""
    with api_errors(device_label(parent)):
        if plan.create or plan.edit:
            # Address objects refer to their tags: make sure the tag objects exist (set merges: no-op if so).
            for tag in plan.tags:
                parent.add(Tag(tag))
            parent.children[0].create_similar()
            parent.removeall()
        if plan.delete:
            for name in plan.delete:
                parent.add(AddressObject(name))
            parent.children[0].delete_similar()  # removes them from parent too
        if plan.create:
            for obj in plan.create:
                parent.add(obj)
            plan.create[0].create_similar()
            parent.removeall()
        for obj in plan.edit:
            parent.add(obj)
            obj.apply()
            parent.remove(obj)


# --- commit -----------------------------------------------------------------------------------------------

def _job_text(job, path):
    element = job.find(path)
    return element.text if element is not None and element.text is not None else None


def _job_lines(job, path):
    element = job.find(path)
    if element is None:
        return []
    lines = [(line.text or "").strip() for line in element.iter("line")]
    if not lines and element.text and element.text.strip():
        lines = [element.text.strip()]
    return [line for line in lines if line]


def show_job(device, jobid):
    """The job as a dict: id, type, user, status, result, progress, tenq, tfin, description, details, warnings."""
    dev = pan_device(device)
    with api_errors(device_label(dev)):
        root = dev.op(cmd="<show><jobs><id>%d</id></jobs></show>" % int(jobid), cmd_xml=False)
    job = root.find("./result/job")
    if job is None:
        raise PanosError("%s has no job %s" % (device_label(dev), jobid))
    info = dict((key, _job_text(job, key)) for key in ("type", "user", "status", "result", "progress", "tenq",
                                                       "tfin", "description"))
    info["id"] = int(_job_text(job, "id") or jobid)
    info["details"] = _job_lines(job, "details")
    info["warnings"] = _job_lines(job, "warnings")
    return info


def pending_changes(device):
    """True when the candidate config differs from the running one."""
    dev = pan_device(device)
    with api_errors(device_label(dev)):
        return bool(dev.pending_changes())


def _start_commit(dev, cmd, where):
    """The new job's id, None when there is nothing to commit, False while another commit runs."""
    with api_errors(where):
        try:
            return dev.commit(cmd=cmd, sync=False)
        except PanCommitInProgress:
            return False


def commit(device, description=None, admins=None, force=False, sync=True, timeout=600,
           interval=COMMIT_POLL_INTERVAL):
    """Commit the candidate config; wait (up to *timeout* s) while another commit runs, and for the job if *sync*.

    Returns {"changed", "jobid", "result", "status", "details", "warnings", "job"} - changed False (no job)
    when PAN-OS says there is nothing to commit.
    """
    dev = pan_device(device)
    where = device_label(dev)
    for admin in admins or ():
        try:
            validate_name(admin, "admin")
        except ValueError as e:
            raise PanosError(str(e))
    options = dict(description=description or None, admins=list(admins) if admins else None, force=force)
    cmd = PanoramaCommit(**options) if isinstance(dev, Panorama) else FirewallCommit(**options)
    deadline = time.monotonic() + timeout
    waited_for_other = False
    while True:
        jobid = _start_commit(dev, cmd, where)
        if jobid is not False:
            break
        if time.monotonic() + interval > deadline:
            raise PanosError("another commit is still running on %s after %ss; try again later or raise timeout"
                             % (where, timeout), "timeout")
        waited_for_other = True
        time.sleep(interval)
    if jobid is None:
        return dict(changed=False, jobid=None, result=None, status=None, job=None, warnings=[],
                    details=["There are no changes to commit."], waited_for_other_commit=waited_for_other)
    jobid = int(jobid)
    result = dict(changed=True, jobid=jobid, result=None, status="PEND", details=[], warnings=[], job=None,
                  waited_for_other_commit=waited_for_other)
    if not sync:
        return result
    while True:
        job = show_job(dev, jobid)
        if job["status"] == "FIN":
            break
        if time.monotonic() + interval > deadline:
            raise PanosError("commit job %d on %s has not finished after %ss (status %s, %s%%); it goes on "
                             "on the device" % (jobid, where, timeout, job["status"], job["progress"]), "timeout")
        time.sleep(interval)
    result.update(result=job["result"], status=job["status"], details=job["details"], warnings=job["warnings"],
                  job=job)
    return result
