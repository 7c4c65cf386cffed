# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One receiver pipeline for Prism webhooks, adapted by the listener (Flask) and the EDA event source (aiohttp).

Framework-free, standard library only: a receiver calls ``Screen.check_head``, reads at most ``read_limit`` bytes
of the body itself (the one framework-bound step), then ``Screen.check_body``. Checks run cheapest and least
revealing first: source network (403), credentials (401), declared size (413), content type (415), the body
itself (413 too large, 400 incomplete), JSON (400), event envelope (400). A failed check raises ``Refused``,
which the receiver answers with ``Refused.body()``: both refuse the same requests alike. The settings' rules
(path, body limits, networks, user name) are here too.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hmac
import ipaddress
import json
import logging
import re

from ansible_collections.netevents.nutanix.plugins.module_utils.events import EventError, parse_event

DEFAULT_PATH = "/listener/callback"
DEFAULT_MAX_BODY = 1048576
MAX_BODY_RANGE = (1024, 64 << 20)
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~\-/]{0,255}$")
# The answer to an event of a type Prism may add later: acknowledged, so Prism does not resend it, and dropped.
IGNORED = {"status": "ignored", "reason": "unknown event type"}

log = logging.getLogger("netevents.webhook_receiver")


# --- settings ---------------------------------------------------------------------------------------------

def path_problem(path):
    """What is wrong with a callback path, or None."""
    if not _PATH_RE.match(path):
        return "must start with '/' and use only letters, digits and . _ ~ - /"
    return None


def username_problem(username):
    """What is wrong with the webhook's user name, or None."""
    return "must not contain ':' (basic auth cannot carry it)" if ":" in username else None


def network(text):
    """An allowed network from a CIDR or one address; ValueError with a message that says what is wrong."""
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        raise ValueError("%r is not a network (e.g. 10.0.0.0/24 or 10.0.0.5)" % (text,))


# --- single checks ----------------------------------------------------------------------------------------

def client_ip(remote_addr):
    """The peer's address, or None when it is not one; IPv4-mapped IPv6 peers count as IPv4."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; match them against IPv4 networks.
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def source_allowed(remote_addr, networks):
    """True when *networks* (ip_network objects) is empty or holds the peer's address."""
    if not networks:
        return True
    ip = client_ip(remote_addr)
    return ip is not None and any(ip in net for net in networks)


def is_json(mimetype):
    mimetype = (mimetype or "").lower()
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _same(given, expected):
    return hmac.compare_digest((given or "").encode("utf-8"), (expected or "").encode("utf-8"))


def credentials_match(username, password, expected_username, expected_password):
    """Compare both parts in constant time, and always both, so timing tells nothing about either."""
    user_ok = _same(username, expected_username)
    password_ok = _same(password, expected_password)
    return user_ok and password_ok and expected_username is not None


def authorization_matches(header, username=None, password=None, token=None):
    """Check an Authorization header: Basic against username/password, Bearer against token (each if set)."""
    scheme, _sep, value = (header or "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "basic" and username is not None:
        try:
            given_user, _sep, given_password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeError, ValueError):
            return False
        return credentials_match(given_user, given_password, username, password)
    if scheme == "bearer" and token is not None:
        return _same(value, token)
    return False


# --- the pipeline -----------------------------------------------------------------------------------------

class Refused(Exception):
    """A refused request: answer ``status`` with ``body()`` and ``headers``."""

    def __init__(self, status, reason, message, headers=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers or {}

    def body(self):
        return {"error": self.reason, "message": self.message}


class Screen(object):
    """The ordered checks of one receiver's settings (basic credentials, a bearer token, or both)."""

    def __init__(self, username=None, password=None, token=None, networks=(), max_body=DEFAULT_MAX_BODY,
                 realm="netevents"):
        self.username = username
        self.password = password
        self.token = token
        self.networks = list(networks)
        self.max_body = max_body
        self.read_limit = max_body + 1  # one byte more than allowed tells a body that is too large
        self.challenge = '%s realm="%s", charset="UTF-8"' % ("Basic" if username is not None else "Bearer", realm)

    def check_head(self, remote_addr, authorization, content_length, content_type):
        """Everything before the body is read. Raises Refused."""
        if not source_allowed(remote_addr, self.networks):
            raise Refused(403, "source_not_allowed", "this source address may not post events")
        if not authorization_matches(authorization, self.username, self.password, self.token):
            raise Refused(401, "unauthorized", "missing or wrong credentials", {"WWW-Authenticate": self.challenge})
        if content_length is not None and content_length > self.max_body:
            raise self._too_large()
        # A missing Content-Type (aiohttp reports application/octet-stream) is refused too.
        if not is_json(content_type):
            raise Refused(415, "not_json", "the body must be sent as application/json")

    @staticmethod
    def incomplete():
        """For a body that could not be read (cut connection, broken chunk framing, read timeout)."""
        return Refused(400, "incomplete_body", "the body could not be read completely")

    def check_body(self, body):
        """(document, VmEvent) from a body read with at most ``read_limit`` bytes. Raises Refused.

        The event's type may be one this parser does not know (``event.known_event``): answer IGNORED then.
        """
        if len(body) > self.max_body:
            raise self._too_large()
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise Refused(400, "malformed_json", "the body is not valid JSON")
        try:
            return document, parse_event(document)
        except EventError as e:
            raise Refused(400, "not_an_event", "not a Prism event envelope: %s" % e)
        except Exception:  # pylint: disable=broad-except
            # A parser bug must not turn hostile input into a 500; refuse it and keep the traceback.
            log.exception("event parser failed")
            raise Refused(400, "not_an_event", "not a Prism event envelope")

    def _too_large(self):
        return Refused(413, "body_too_large", "the body is larger than %d bytes" % self.max_body)
