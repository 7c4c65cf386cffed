# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One receiver pipeline for Prism webhooks, adapted by the listener (Flask) and the EDA event source (aiohttp).

Framework-free, standard library only: a receiver calls ``Screen.check_head``, reads at most ``read_limit`` bytes
of the body itself (the one framework-bound step), then ``Screen.check_body``. Checks run cheapest and least
revealing first: source network (403), credentials (401: every method configured - basic, bearer, path token -
must hold), declared size (413), content type (415), the body itself (413 too large, 400 shorter than its
Content-Length), JSON (400), text that is not Unicode (400, naming the field), event envelope (400). A failed
check raises ``Refused``, which the receiver answers with ``Refused.body()`` and logs with ``Refused.details``:
both refuse the same requests alike. The settings' rules (path, path token, body limits, networks, user name)
are here too.

The path token is a secret in the URL (``<path>/<token>``) for a Prism that sends no credentials (nothing public
confirms that Prism sends a webhook's credentials as basic auth): compared in constant time, and masked in
everything a receiver logs (``Screen.loggable_path``).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import re
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.netevents.nutanix.plugins.module_utils.events import EventError, parse_event

DEFAULT_PATH = "/listener/callback"
DEFAULT_MAX_BODY = 1048576
MAX_BODY_RANGE = (1024, 64 << 20)
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~\-/]{0,255}$")
# At least 32 URL-safe characters: 192 bits from secrets.token_urlsafe(24) or more.
PATH_TOKEN_LENGTH = (32, 256)
_PATH_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MASK = "********"
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# The answer to an event of a type Prism may add later: acknowledged, so Prism does not resend it, and dropped.
IGNORED = {"status": "ignored", "reason": "unknown event type"}

log = logging.getLogger("netevents.webhook_receiver")


# --- settings ---------------------------------------------------------------------------------------------

def path_problem(path):
    """What is wrong with a callback path, or None."""
    if not _PATH_RE.match(path):
        return "must start with '/' and use only letters, digits and . _ ~ - /"
    return None


def path_token_problem(token):
    """What is wrong with a path token, or None."""
    low, high = PATH_TOKEN_LENGTH
    if not low <= len(token) <= high or not _PATH_TOKEN_RE.match(token):
        return ("must be %d to %d URL-safe characters (letters, digits, '-', '_'), e.g. from `openssl rand -hex 32`"
                % (low, high))
    return None


def path_token_in(url):
    """The last path segment of *url* when it is shaped like a path token (the receivers' rule above), else None.

    What the webhook modules mask in every post_url they show: a receiver's URL ends with its token."""
    if not isinstance(url, str):
        return None
    segment = urlsplit(url).path.rpartition("/")[2]
    return segment if segment and path_token_problem(segment) is None else None


def mask_path_token(url):
    """*url* with a path token (``path_token_in``) masked."""
    token = path_token_in(url)
    if token is None:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path[:-len(token)] + MASK))


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


def _same_secret(given, expected):
    """Constant time whatever the lengths: compare_digest returns early on a length difference, digests are equal
    in length."""
    def digest(text):
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(digest(given), digest(expected))


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


def auth_scheme(header):
    """none, basic, bearer or other: what a refused request carried, for the log (never the credentials)."""
    scheme = (header or "").strip().partition(" ")[0].lower()
    if not scheme:
        return "none"
    return scheme if scheme in ("basic", "bearer") else "other"


def text_problem(document):
    r"""The JSON path of the first string (key or value) in *document* that is not Unicode text UTF-8 can encode
    (a lone surrogate from an escape such as \ud800), or None. Iterative: JSON nests as deep as the parser let
    it."""
    stack = [("", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if not _encodes(value):
                return where or "the body"
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                children.append((_path(where, key), item))
                if not _encodes(key):
                    return children[-1][0]
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([("%s[%d]" % (where, i), item) for i, item in enumerate(value)]))
    return None


def _encodes(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _path(where, key):
    """where.key, or where["key"] (ASCII-escaped) for a key that is not a plain name."""
    if _KEY_RE.match(key):
        return "%s.%s" % (where, key) if where else key
    return "%s[%s]" % (where, json.dumps(key)[:66])


# --- the pipeline -----------------------------------------------------------------------------------------

class Refused(Exception):
    """A refused request: answer ``status`` with ``body()`` and ``headers``; log ``details`` with it (what the
    request carried: the auth scheme, the path token's state, the field at fault - never a secret)."""

    def __init__(self, status, reason, message, headers=None, details=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers or {}
        self.details = details or {}

    def body(self):
        return {"error": self.reason, "message": self.message}


class Screen(object):
    """The ordered checks of one receiver's settings: basic credentials, a bearer token, a path token - any of them,
    at least one. Basic and bearer are alternatives for the one Authorization header; the path token is required
    on top of whichever of them is configured."""

    def __init__(self, path=DEFAULT_PATH, username=None, password=None, token=None, path_token=None, networks=(),
                 max_body=DEFAULT_MAX_BODY, realm="netevents", path_tokens=None):
        """path_tokens -- {source name: path token}: several accepted path tokens, each naming the source (a Prism)
        a request carrying it comes from (``check_head`` returns that name); *path_token* is one more, of no
        source in particular (its name: None)."""
        self.path_tokens = dict(path_tokens or {})
        if path_token is not None:
            self.path_tokens[None] = path_token
        if username is None and token is None and not self.path_tokens:
            raise ValueError("a receiver needs basic credentials, a bearer token or a path token")
        self.path = path
        self.username = username
        self.password = password
        self.token = token
        # Whether a path token is required (any of path_tokens); kept under its old name for the receivers.
        self.path_token = path_token if path_token is not None else (next(iter(self.path_tokens.values()))
                                                                     if self.path_tokens else None)
        self.networks = list(networks)
        self.max_body = max_body
        self.read_limit = max_body + 1  # one byte more than allowed tells a body that is too large
        self.challenge = None
        if username is not None or token is not None:
            self.challenge = '%s realm="%s", charset="UTF-8"' % ("Basic" if username is not None else "Bearer", realm)

    def loggable_path(self, path):
        """*path* with whatever follows the callback path masked: a path token, right or wrong, is never logged."""
        if path and path.startswith(self.path + "/"):
            return self.path + "/" + MASK
        return path

    def _path_token_state(self, path):
        """(state, source): state None when no path token is configured, else "ok", "missing" or "wrong"; source
        the name of the token that matched."""
        if not self.path_tokens:
            return None, None
        given = path[len(self.path) + 1:] if path and path.startswith(self.path + "/") else ""
        if not given:
            return "missing", None
        # Every token is compared, always: the time taken says nothing about which one (if any) matched.
        matched = [name for name, token in sorted(self.path_tokens.items(), key=lambda item: str(item[0]))
                   if _same_secret(given, token)]
        return ("ok", matched[0]) if matched else ("wrong", None)

    def check_head(self, remote_addr, path, authorization, content_length, content_type):
        """Everything before the body is read. Raises Refused. Returns the name of the source whose path token the
        request carried (``path_tokens``), or None."""
        if not source_allowed(remote_addr, self.networks):
            raise Refused(403, "source_not_allowed", "this source address may not post events")
        # Both checks always run: the time taken tells nothing about which one failed.
        header_ok = self.challenge is None or authorization_matches(authorization, self.username, self.password,
                                                                    self.token)
        token_state, source = self._path_token_state(path)
        if not header_ok or token_state not in (None, "ok"):
            details = {"auth_scheme": auth_scheme(authorization)}
            if token_state is not None:
                details["path_token"] = token_state
            raise Refused(401, "unauthorized", "missing or wrong credentials",
                          {"WWW-Authenticate": self.challenge} if self.challenge else None, details)
        if content_length is not None and content_length > self.max_body:
            raise self._too_large()
        # A missing Content-Type (aiohttp reports application/octet-stream) is refused too.
        if not is_json(content_type):
            raise Refused(415, "not_json", "the body must be sent as application/json")
        return source

    @staticmethod
    def incomplete():
        """For a body that could not be read (cut connection, broken chunk framing, read timeout), or is shorter
        than its Content-Length."""
        return Refused(400, "incomplete_body", "the body could not be read completely")

    def check_body(self, body, content_length=None):
        """(document, VmEvent) from a body read with at most ``read_limit`` bytes. Raises Refused.

        content_length -- the request's Content-Length, if it had one: a shorter body was cut short (some servers
        hand over what arrived before the client closed, without an error).
        The event's type may be one this parser does not know (``event.known_event``): answer IGNORED then.
        """
        if len(body) > self.max_body:
            raise self._too_large()
        if content_length is not None and len(body) < content_length:
            raise self.incomplete()
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise Refused(400, "malformed_json", "the body is not valid JSON")
        field = text_problem(document)
        if field is not None:
            field = field if len(field) <= 200 else field[:197] + "..."
            raise Refused(400, "invalid_text", "%s is not valid Unicode text (a lone surrogate, such as from a "
                          "\\ud800 escape)" % field, details={"field": field})
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
