# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one Nutanix Prism client, on requests: the v3 API and the Prism Central v4 API.

Shared by the nutanix_webhook* modules, vm_tag_sync and the listener: basic or API-key auth, TLS verification on
by default, timeouts, retries with exponential backoff (honouring Retry-After) on connection failures, 429 and
5xx. v3 serves webhooks and VMs; VMs are read through v4 where the Prism serves it (``api``: auto, v3, v4; the v4
calls are in prism_v4.py, on this client's transport). Every failure is a PrismError whose text a network
engineer can act on; no message, URL or log line ever carries the password or the API key.

The pure helpers at the end (webhook_spec, webhook_view, webhook_changes) build and compare webhook payloads
for the modules, so that logic is unit-tested without a server.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import email.utils
import ipaddress
import re
import time
import traceback
from time import sleep as _sleep  # the backoff sleep; a name of its own so tests can record the delays
from urllib.parse import quote, urlsplit

from ansible_collections.netevents.nutanix.plugins.module_utils.events import vm_state_from_entity
from ansible_collections.netevents.nutanix.plugins.module_utils.prism_v4 import PrismV4, error_messages
from ansible_collections.netevents.nutanix.plugins.module_utils.tls import client_context
from ansible_collections.netevents.nutanix.plugins.module_utils.webhook_receiver import mask_path_token

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    import urllib3
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_REQUESTS = True

API_PATH = "/api/nutanix/v3"
API_CHOICES = ("auto", "v3", "v4")  # which API reads VMs; webhooks are v3 only (v4 has none)
API_KEY_HEADER = "X-ntnx-api-key"  # Prism Central's API keys (service accounts), as the official SDKs send them
MISSING_CREDENTIALS = ("give nutanix_username and nutanix_password, or nutanix_api_key (a Prism Central API key); "
                       "or set NUTANIX_USERNAME and NUTANIX_PASSWORD (or NUTANIX_API_KEY) in the environment")
MAX_VM_PAGE = 500  # Prism clamps list pages to 500 entities
MAX_BACKOFF = 30.0  # seconds; also caps a server's Retry-After
# Statuses worth another try. A create (POST that is not a list) is retried only when Prism surely did not
# act on it: a second POST of the same webhook would subscribe twice.
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_STATUSES_UNSAFE = (429, 503)
# Webhook names that are safe to put in a FIQL filter as they are (Prism matches the value as a regex,
# and ';' ',' would split the filter): other names are looked up by listing every webhook.
_FILTER_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class PrismError(Exception):
    """A Prism failure: str() is a sentence for the person running the playbook.

    status_code is the HTTP status of Prism's answer (None when no answer came, or when what answered is not
    Prism), http_status that of whatever answered (also when it is not Prism), message_list the error's list
    of {"reason", "message", "details"} (v3 bodies as they are, v4 ones turned into that shape) and reason the
    first reason (e.g. ENTITY_NOT_FOUND, VMM-20005), or None.
    """

    def __init__(self, message, status_code=None, message_list=None, http_status=None):
        super(PrismError, self).__init__(message)
        self.message = message
        self.status_code = status_code
        self.http_status = http_status if http_status is not None else status_code
        self.message_list = list(message_list or [])
        self.reason = self.message_list[0].get("reason") if self.message_list else None

    def __str__(self):
        return self.message


class PrismClient(object):
    """A session with one Prism Element or Prism Central (v3 API, and v4 where Prism Central serves it)."""

    def __init__(self, host, port=9440, username=None, password=None, validate_certs=True, timeout=30,
                 retries=3, backoff_factor=0.5, ca_path=None, api_key=None, api="auto"):
        """ca_path -- a PEM file (Prism's self-signed certificate as is, or its CA) or a directory of hashed PEM
        files that Prism's certificate is verified against, instead of the system's CAs.
        api_key -- a Prism Central API key, sent in X-ntnx-api-key instead of the user name and password.
        api     -- how VMs are read: "v4", "v3", or "auto" (v4 where this Prism serves it, else v3)."""
        if not HAS_REQUESTS:
            raise PrismError("the Python library 'requests' is required to talk to Prism")
        if api not in API_CHOICES:
            raise PrismError("api must be one of %s, not %r" % (", ".join(API_CHOICES), api))
        if not api_key and (not username or password is None):
            raise PrismError(MISSING_CREDENTIALS)
        host = (host or "").strip()
        if not host or "/" in host or "@" in host:
            raise PrismError("nutanix_host must be a host name or an IP address, not %r" % (host,))
        if ":" in host:  # only an IPv6 literal may hold a colon; the port goes in nutanix_port
            try:
                host = "[%s]" % ipaddress.IPv6Address(host.strip("[]"))
            except ValueError:
                raise PrismError("nutanix_host must be a host name or an IP address, not %r (give the port in "
                                 "nutanix_port)" % (host,))
        if not timeout or timeout <= 0:
            raise PrismError("timeout must be a positive number of seconds, not %r" % (timeout,))
        self.base_url = "https://%s:%d" % (host, int(port))
        self.where = "Prism at %s" % self.base_url
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff_factor = backoff_factor
        self.api = api
        self._secrets = [secret for secret in (password, api_key) if secret]
        self.session = requests.Session()
        if api_key:
            self.session.headers[API_KEY_HEADER] = api_key
        else:
            self.session.auth = (username, password)
        self._credentials = "nutanix_api_key" if api_key else "nutanix_username and nutanix_password"
        # Given with each request: requests lets REQUESTS_CA_BUNDLE override a session-wide verify=False.
        self.verify = bool(validate_certs)
        if self.verify and ca_path:
            try:
                client_context(ca_path=ca_path)  # fails now, with the reason, rather than at each request
            except ValueError as e:
                raise PrismError("nutanix_ca_path: %s" % e)
            self.verify = ca_path
        self.ca_path = ca_path if self.verify else None
        if not self.verify:
            # The user chose not to verify (documented); one warning per request would only bury real output.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.session.headers.update({"Accept": "application/json", "Content-Type": "application/json",
                                     "User-Agent": "netevents.nutanix"})
        self.v4 = PrismV4(self.call, PrismError, self.where)

    # ------------------------------------------------------------------ transport
    def request(self, method, path, body=None, idempotent=None):
        """Send one v3 call (*path* under /api/nutanix/v3); see call()."""
        return self.call(method, API_PATH + path, body=body, idempotent=idempotent)

    def call(self, method, path, params=None, body=None, idempotent=None):
        """Send one API call, *path* from the host root (retrying what is safe to retry); return the decoded
        JSON answer or None."""
        if idempotent is None:
            idempotent = method != "POST" or path.endswith("/list")
        url = self.base_url + path
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, params=params, json=body, timeout=self.timeout,
                                                verify=self.verify)
            except requests.exceptions.SSLError as e:
                raise PrismError(self._scrub(self._tls_message(e)))
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
                sent = not _never_sent(e)
                if attempt < self.retries and (idempotent or not sent):
                    self._sleep(attempt)
                    attempt += 1
                    continue
                raise PrismError(self._scrub(self._connection_message(e, attempt)))
            except requests.exceptions.RequestException as e:
                raise PrismError(self._scrub("request to %s failed: %s" % (self.where, e)))
            status = response.status_code
            retryable = RETRY_STATUSES if idempotent else RETRY_STATUSES_UNSAFE
            if status in retryable and attempt < self.retries:
                self._sleep(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            if status >= 400:
                raise self._http_error(response, method, path, attempt)
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise self._not_prism(response, method, path, "an answer that is not JSON")

    def _sleep(self, attempt, retry_after=None):
        delay = self.backoff_factor * (2 ** attempt)
        server_delay = _retry_after_seconds(retry_after)
        if server_delay is not None:
            delay = server_delay
        _sleep(min(max(delay, 0.0), MAX_BACKOFF))

    def _scrub(self, text):
        """Belt and braces: whatever a library put in an error text, the password and the key do not leave."""
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text

    def _tls_message(self, exc):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text.lower():
            detail = re.search(r"certificate verify failed: ([^()'\"]+)", text)
            detail = detail.group(1).strip() if detail else "certificate verify failed"
            if self.ca_path:
                return ("the TLS certificate of %s could not be verified against nutanix_ca_path %s (%s): give the "
                        "CA that signed it, or Prism's self-signed certificate itself"
                        % (self.where, self.ca_path, detail))
            return ("the TLS certificate of %s could not be verified (%s). Give the CA that signed it (or Prism's "
                    "self-signed certificate itself) in nutanix_ca_path, or set validate_certs: false on a "
                    "trusted management network" % (self.where, detail))
        if "hostname" in text.lower() and "match" in text.lower():
            return ("the TLS certificate of %s does not name that host; use the name in the certificate as "
                    "nutanix_host, or set validate_certs: false on a trusted management network" % self.where)
        return "TLS handshake with %s failed (is this the HTTPS port of Prism?): %s" % (self.where, text)

    def _connection_message(self, exc, attempt):
        text = str(exc)
        low = text.lower()
        tries = " after %d attempts" % (attempt + 1) if attempt else ""
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return "cannot connect to %s: no answer within %s seconds%s (host down or port filtered?)" % (
                self.where, self.timeout, tries)
        if isinstance(exc, requests.exceptions.Timeout):
            return "%s did not answer within %s seconds%s" % (self.where, self.timeout, tries)
        if "connection refused" in low:
            return ("cannot connect to %s: connection refused%s (check nutanix_host and nutanix_port, and that "
                    "Prism listens there)" % (self.where, tries))
        if "name or service not known" in low or "nodename nor servname" in low or "name resolution" in low \
                or "getaddrinfo failed" in low:
            return "cannot resolve the host name in %s%s: check nutanix_host" % (self.where, tries)
        if "no route to host" in low or "network is unreachable" in low:
            return "cannot reach %s%s: no route to the host" % (self.where, tries)
        return "cannot talk to %s%s: %s" % (self.where, tries, text)

    def _http_error(self, response, method, path, attempt):
        status = response.status_code
        if status == 401:
            return PrismError("%s refused the credentials (HTTP 401): check %s" % (self.where, self._credentials),
                              status_code=status)
        message_list = []
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message_list"), list):
            message_list = [m for m in body["message_list"] if isinstance(m, dict)]
        message_list = message_list or error_messages(body)
        if not message_list and status in (404, 405):
            return self._not_prism(response, method, path, "no Prism error")
        tries = " (after %d attempts)" % (attempt + 1) if attempt else ""
        if message_list:
            parts = []
            for m in message_list:
                part = "%s: %s" % (m.get("reason") or "ERROR", m.get("message") or "")
                if m.get("details"):
                    part += " %s" % (m["details"],)
                parts.append(part.strip())
            detail = "; ".join(parts)
        else:
            snippet = re.sub(r"<[^>]+>", " ", response.text or "")
            detail = " ".join(snippet.split())[:200] or response.reason or ""
        if status == 403:
            lead = "%s refused %s %s (HTTP 403): the user lacks the permission" % (self.where, method, path)
        else:
            lead = "%s answered %s %s with HTTP %d%s" % (self.where, method, path, status, tries)
        return PrismError(self._scrub("%s: %s" % (lead, detail) if detail else lead), status_code=status,
                          message_list=message_list)

    def _not_prism(self, response, method, path, what):
        """Another service answered: say so, and who it was. status_code stays None, so that no caller takes
        a 404 of a web server for a Prism entity that is gone (http_status keeps it, for "not served here")."""
        server = response.headers.get("Server")
        if path.startswith(API_PATH):
            api, where = "v3", "Prism Central and Prism Element serve the v3 API on port 9440"
        else:
            api, where = "v4", "Prism Central serves the v4 API on port 9440"
        return PrismError("%s answered %s %s with HTTP %d and %s: this is not a Prism %s API%s. Check nutanix_host "
                          "and nutanix_port (%s)"
                          % (self.where, method, path, response.status_code, what, api,
                             " (the server calls itself %r)" % server[:80] if server else "", where),
                          http_status=response.status_code)

    def _entity(self, answer, method, path):
        """*answer* when it is a v3 entity (a dict with metadata.uuid), else a PrismError."""
        metadata = answer.get("metadata") if isinstance(answer, dict) else None
        if not isinstance(metadata, dict) or not metadata.get("uuid"):
            raise PrismError("%s answered %s %s with JSON that is not a Prism v3 entity (no metadata.uuid): is "
                             "this a Prism v3 API? Check nutanix_host and nutanix_port"
                             % (self.where, method, API_PATH + path))
        return answer

    # ------------------------------------------------------------------ generic intentful entities
    def _list(self, kind, filter=None, page_size=100):
        """Every entity of *kind* (lazily, page by page) matching the FIQL *filter*."""
        offset = 0
        while True:
            body = {"kind": kind, "length": page_size, "offset": offset}
            if filter:
                body["filter"] = filter
            path = "/%ss/list" % kind
            answer = self.request("POST", path, body) or {}
            entities = (answer.get("entities") or []) if isinstance(answer, dict) else None
            if not isinstance(entities, list):
                raise PrismError("%s answered POST %s with JSON that is not a Prism v3 list: is this a Prism v3 "
                                 "API? Check nutanix_host and nutanix_port" % (self.where, API_PATH + path))
            yield from entities
            offset += len(entities)
            total = (answer.get("metadata") or {}).get("total_matches")
            if not entities or (isinstance(total, int) and offset >= total):
                return

    def _wait(self, kind, uuid, timeout, gone=False):
        """Poll until the entity is COMPLETE (or, with gone, until it is deleted); return it (or None)."""
        deadline = time.monotonic() + timeout
        interval = 0.2
        while True:
            path = "/%ss/%s" % (kind, quote(uuid, safe=""))
            try:
                entity = self._entity(self.request("GET", path), "GET", path)
            except PrismError as e:
                if gone and e.status_code == 404:
                    return None
                raise
            state = (entity.get("status") or {}).get("state")
            if not gone and state == "COMPLETE":
                return entity
            if state == "ERROR":
                messages = (entity.get("status") or {}).get("message_list") or []
                raise PrismError("Prism could not apply the %s %s: %s" % (kind, uuid, "; ".join(
                    "%s: %s" % (m.get("reason"), m.get("message")) for m in messages) or "state ERROR"),
                    message_list=messages)
            if time.monotonic() >= deadline:
                raise PrismError("the %s %s is still %s after %s seconds (Prism has accepted the change and may "
                                 "still apply it)" % (kind, uuid, state or "not complete", timeout))
            time.sleep(interval)
            interval = min(interval * 1.5, 2.0)

    @staticmethod
    def _metadata(kind, uuid=None, spec_version=None, metadata=None):
        meta = dict(metadata or {})
        meta["kind"] = kind
        if uuid is not None:
            meta["uuid"] = uuid
        if spec_version is not None:
            meta["spec_version"] = spec_version
        return meta

    # ------------------------------------------------------------------ API
    def users_me(self):
        """The logged-in user (a cheap call to check the address and the credentials)."""
        return self.request("GET", "/users/me")

    def list_webhooks(self, filter=None, page_size=100):
        try:
            return [self._entity(w, "POST", "/webhooks/list")
                    for w in self._list("webhook", filter=filter, page_size=page_size)]
        except PrismError as e:
            if e.http_status != 404:
                raise
            self._no_webhooks(e)

    def _no_webhooks(self, error):
        """A 404 on webhooks/list: a Prism whose v3 API answers but has no webhooks any more (Nutanix retires
        v3; what such a Prism answers is not known, so its own v3 users/me decides), or not Prism at all."""
        try:
            self.users_me()
        except PrismError:
            raise error
        raise PrismError("%s serves the v3 API but no v3 webhooks (HTTP 404 on POST %s/webhooks/list), and Prism "
                         "v4 has no webhooks at all. Let the listener poll Prism instead: set prism.source: poll "
                         "in its configuration (listener_prism_source: poll with the listener role) and register "
                         "no webhook (docs/listener.md, docs/sources.md)"
                         % (self.where, API_PATH), status_code=404, message_list=error.message_list)

    def find_webhooks(self, name):
        """Every webhook named exactly *name* (Prism's filter matches loosely, so compare here too)."""
        flt = "name==%s" % name if _FILTER_SAFE_NAME.match(name) else None
        return [w for w in self.list_webhooks(filter=flt) if (w.get("spec") or {}).get("name") == name]

    def get_webhook(self, uuid):
        path = "/webhooks/%s" % quote(uuid, safe="")
        return self._entity(self.request("GET", path), "GET", path)

    def create_webhook(self, spec):
        answer = self.request("POST", "/webhooks", {"metadata": {"kind": "webhook"}, "spec": spec})
        return self._entity(answer, "POST", "/webhooks")

    def update_webhook(self, uuid, spec, spec_version):
        path = "/webhooks/%s" % quote(uuid, safe="")
        answer = self.request("PUT", path, {"metadata": self._metadata("webhook", uuid, spec_version), "spec": spec})
        return self._entity(answer, "PUT", path)

    def delete_webhook(self, uuid):
        self.request("DELETE", "/webhooks/%s" % quote(uuid, safe=""))

    def wait_for_webhook(self, uuid, timeout=60):
        return self._wait("webhook", uuid, timeout)

    def wait_for_webhook_deleted(self, uuid, timeout=60):
        self._wait("webhook", uuid, timeout, gone=True)

    def list_vms(self, filter=None, page_size=MAX_VM_PAGE):
        return self._list("vm", filter=filter, page_size=min(page_size, MAX_VM_PAGE))

    def get_vm(self, uuid):
        return self.request("GET", "/vms/%s" % quote(uuid, safe=""))

    # ------------------------------------------------------------------ VMs as VmState, through v3 or v4
    def vm_api(self):
        """The API VMs are read with, "v4" or "v3". With api auto, the first call asks Prism (once per client):
        v4 where it serves a v4 version we read, v3 elsewhere (Prism Element, older Prism Central)."""
        if self.api == "v3":
            return "v3"
        if self.v4.version("vmm") is not None:
            return "v4"
        if self.api == "v4":
            raise PrismError("%s serves no v4 VM API (vmm v4.0 to v4.3; Prism Element and older Prism Central "
                             "have none): set api to v3, or to auto to use v4 where it is served" % self.where)
        return "v3"

    def vm_states(self, page_size=MAX_VM_PAGE):
        """Every VM as a VmState; v3 pages by *page_size*, v4 by 100 (its most)."""
        if self.vm_api() == "v4":
            return self.v4.vm_states()
        return [vm_state_from_entity(e) for e in self.list_vms(page_size=page_size)]

    def vm_states_for(self, uuids):
        """{uuid: VmState, or None when Prism does not know the VM} for *uuids*: v4 in batches, v3 one GET each."""
        if self.vm_api() == "v4":
            return self.v4.vm_states_for(uuids)
        states = {}
        for uuid in uuids:
            if uuid in states:
                continue
            path = "/vms/%s" % quote(uuid, safe="")
            try:
                states[uuid] = vm_state_from_entity(self._entity(self.request("GET", path), "GET", path))
            except PrismError as e:
                if e.status_code != 404:
                    raise
                states[uuid] = None
        return states


def _never_sent(exc):
    """True if the request surely did not reach the server (so even a create may be retried)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc)
    return "NewConnectionError" in text or "NameResolutionError" in text or "Connection refused" in text


def _retry_after_seconds(value):
    """Retry-After as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


# ---------------------------------------------------------------------- webhook payloads (pure)

def validate_post_url(url):
    """Return *url* if it is an http(s) URL with a host and no credentials in it; ValueError otherwise.

    The message never repeats the URL: it may hold a password.
    """
    parts = urlsplit(url or "")
    if "@" in parts.netloc:
        raise ValueError("post_url must not carry a user name or password; give them in credentials instead")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("post_url must be an http:// or https:// URL with a host name or address, such as "
                         "https://listener.example.com:8443/events")
    return url


def webhook_spec(name, post_url, events, credentials=None, description=None):
    """The v3 spec of a webhook. credentials: {"username", "password"} (password may be left out on update)."""
    resources = {"post_url": post_url, "events_filter_list": sorted(set(events))}
    if credentials:
        creds = {"username": credentials["username"]}
        if credentials.get("password") is not None:
            creds["password"] = credentials["password"]
        resources["credentials"] = creds
    spec = {"name": name, "resources": resources}
    if description is not None:
        spec["description"] = description
    return spec


def webhook_view(entity):
    """What modules return about a webhook: the intent (spec) and its state, never a password or a path token."""
    metadata = entity.get("metadata") or {}
    spec = entity.get("spec") or {}
    resources = spec.get("resources") or {}
    creds = resources.get("credentials") or {}
    return {
        "uuid": metadata.get("uuid"),
        "name": spec.get("name"),
        "description": spec.get("description"),
        "post_url": mask_path_token(resources.get("post_url")),  # a receiver's path token is a secret
        "events": sorted(resources.get("events_filter_list") or []),
        "credentials": {"username": creds["username"]} if creds.get("username") is not None else None,
        "spec_version": metadata.get("spec_version"),
        "state": (entity.get("status") or {}).get("state"),
    }


def webhook_changes(current_spec, desired_spec):
    """The fields (post_url, events, description, credentials.username) where *desired_spec* differs.

    Fields the desired spec leaves out (description, credentials) are not managed and never differ. The
    password cannot be compared: Prism never returns it.
    """
    cur = current_spec.get("resources") or {}
    want = desired_spec.get("resources") or {}
    changes = []
    if cur.get("post_url") != want.get("post_url"):
        changes.append("post_url")
    if set(cur.get("events_filter_list") or []) != set(want.get("events_filter_list") or []):
        changes.append("events")
    if "description" in desired_spec and (current_spec.get("description") or "") != desired_spec["description"]:
        changes.append("description")
    if "credentials" in want and (cur.get("credentials") or {}).get("username") != want["credentials"]["username"]:
        changes.append("credentials.username")
    return changes
