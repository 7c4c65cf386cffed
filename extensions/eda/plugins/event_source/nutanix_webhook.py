# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An ansible-rulebook event source: receive Nutanix Prism v3 webhooks and put normalised VM events on the queue.

Requests are screened by the collection's one receiver pipeline (plugins/module_utils/webhook_receiver.py), which
the listener's Flask app adapts too: the same checks in the same order, with the same JSON refusals;
tests/unit/eda/test_eda_source.py sends the same requests to both and compares the answers. This file only adapts
it to aiohttp. Categories become tags with the collection's one tag mapping (tagging.py), and each event carries
the collection's one classification of event types (``action``, events.py) for the rules to match on.
"""

import asyncio
import json
import logging
import os
import ssl
import sys

from aiohttp import web


def _add_collection_root():
    """ansible-rulebook loads a source with runpy.run_path and puts nothing on sys.path: find the directory
    that holds ansible_collections/ from where this file sits (.../ansible_collections/<ns>/<name>/extensions/
    eda/plugins/event_source/nutanix_webhook.py) so the collection's own module_utils can be imported."""
    parts = os.path.abspath(__file__).split(os.sep)
    if len(parts) > 8 and parts[-8] == "ansible_collections":
        root = os.sep.join(parts[:-8]) or os.sep
        if root not in sys.path:
            sys.path.append(root)


try:
    from ansible_collections.netevents.nutanix.plugins.module_utils import webhook_receiver as receiver
except ImportError:
    _add_collection_root()
    from ansible_collections.netevents.nutanix.plugins.module_utils import webhook_receiver as receiver
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import DEFAULT_TAG_FORMAT, TagError, TagMapper

DOCUMENTATION = r"""
---
short_description: Receive Nutanix Prism VM events (v3 webhooks) and normalise them.
description:
  - An ansible-rulebook event source that listens for the webhook POSTs of Nutanix Prism (AOS or Prism Central,
    v3 API) - C(VM.ON), C(VM.OFF), C(VM.CREATE), C(VM.UPDATE), C(VM.DELETE), C(VM.MIGRATE), C(VM.NIC_PLUG),
    C(VM.NIC_UNPLUG).
  - Every request is authenticated and validated like the netevents listener does it, with the same refusals
    as short JSON errors - 403 (source not in O(allowed_networks)), 401 (credentials or path token), 413 (body
    over O(max_body_bytes)), 415 (not C(application/json)), 400 (body shorter than its C(Content-Length) or cut
    short, malformed JSON, text that is not Unicode, not a Prism event). Events of a type Prism may add later are
    answered 200 and dropped.
  - A refused request is logged with the authentication scheme it carried (C(none), C(basic), C(bearer),
    C(other)) and, with O(path_token), whether the token was C(missing) or C(wrong) - never a secret. That is how
    to find out what a Prism sends.
  - Addresses a firewall should not hold (a zone index, unspecified, loopback, multicast, broadcast, link-local)
    are left out of C(ips), with a warning in the log; see the collection's docs/listener.md.
  - Each event is parsed by the collection's event parser and put on the queue as a mapping with three keys,
    C(nutanix), C(payload) and C(meta). C(nutanix) holds C(event_type), C(action), C(vm_uuid), C(vm_name),
    C(ips), C(categories), C(power_state), C(cluster_uuid), C(cluster_name), C(complete) and C(tags); C(payload)
    is the body as Prism sent it;
    C(meta) holds C(endpoint) (the path, with a path token masked) and C(remote_addr). C(ips), C(categories) and
    C(tags) are null when the payload did not say (some AOS versions send an empty C(nic_list) at C(VM.ON)), and so
    are C(cluster_uuid) and C(cluster_name); C(complete) is true when C(ips) and C(categories) are both known.
  - C(action) is the collection's one classification of the event type, the one the listener's C(panos) plugin
    acts on - V(register) (C(VM.ON), C(VM.CREATE), C(VM.UPDATE), C(VM.MIGRATE), C(VM.NIC_PLUG)), V(unregister)
    (C(VM.OFF), C(VM.DELETE)) or V(reconcile) (C(VM.NIC_UNPLUG), after which an address the payload no longer
    names has gone).
  - C(tags) are the PAN-OS tags the VM's categories map to, with the same mapping as the listener's C(panos)
    plugin and M(netevents.nutanix.vm_tag_sync) (O(tag_format), O(tag_mapping), O(tag_categories),
    O(prism_name)).
  - The answer 200 means the event is on ansible-rulebook's queue, in memory. Nothing is written to disk and
    nothing is deduplicated; see the collection's docs/eda.md for when the listener's durable queue is the
    better choice.
options:
  host:
    description:
      - The address to listen on (V(::) for IPv6 and IPv4).
    type: str
    default: "0.0.0.0"
  port:
    description:
      - The TCP port to listen on.
    type: int
    required: true
  path:
    description:
      - The URL path Prism POSTs to (the path of the webhook's C(post_url)); other paths answer 404.
      - The same default as the listener, so a webhook registered for one works for the other.
    type: str
    default: /listener/callback
  username:
    description:
      - The user name of the webhook's credentials, checked as HTTP basic authentication. Nothing public confirms
        that Prism sends a webhook's credentials that way; O(path_token) does not depend on it.
      - Set O(username) and O(password), O(token), O(path_token), or several. O(username) and O(token) are
        alternatives for the one C(Authorization) header (either may match); O(path_token) is required on top of
        them when set.
    type: str
  password:
    description:
      - The password of the webhook's credentials. Give it from a variable (C(--vars) or C(--env-vars)) or an
        EDA controller credential, never in the rulebook.
    type: str
  token:
    description:
      - A bearer token (the header C(Authorization) with C(Bearer TOKEN)) accepted instead of the basic
        credentials, for a reverse proxy in front of the source that authenticates Prism itself.
    type: str
  path_token:
    description:
      - A secret in the URL - Prism posts to O(path) followed by C(/) and this token, for instance
        C(https://eda.example.com:5001/listener/callback/TOKEN) registered as the webhook's C(post_url).
        Works with a Prism that sends no credentials.
      - 32 to 256 URL-safe characters (letters, digits, C(-), C(_)); make one with C(openssl rand -hex 32).
        Compared in constant time, never logged, masked in C(meta.endpoint). Give it from a variable or an EDA
        controller credential, like O(password); with TLS (O(certfile)) it does not cross the network in clear
        text.
    type: str
  certfile:
    description:
      - A PEM certificate (chain) to serve HTTPS with; without it the source serves plain HTTP.
      - Whether Prism verifies a webhook receiver's certificate, and against which authorities, is not publicly
        documented. Use a certificate Prism can verify (from a CA your Prism trusts) where you can; a self-signed
        one still keeps the credentials, the path token and the events off the wire in clear text if Prism
        accepts it - test it with your Prism.
    type: str
  keyfile:
    description:
      - The PEM private key of O(certfile), when it is not in that file.
    type: str
  allowed_networks:
    description:
      - Only accept requests from these networks (CIDR, e.g. the Prism cluster's CVM subnet); empty allows every
        source. Checked before the credentials.
      - Behind a reverse proxy this is the proxy's address.
    type: list
    elements: str
    default: []
  max_body_bytes:
    description:
      - The largest body accepted (1024 to 67108864); larger ones are refused with 413 without being read.
    type: int
    default: 1048576
  tag_format:
    description:
      - How a category becomes a tag in C(nutanix.tags), as O(netevents.nutanix.vm_tag_sync#module:tag_format).
    type: str
    default: "ntnx.{category}.{value}"
  tag_mapping:
    description:
      - Explicit tags that win over O(tag_format), as O(netevents.nutanix.vm_tag_sync#module:tag_mapping).
    type: dict
  tag_categories:
    description:
      - Map only these category names, as O(netevents.nutanix.vm_tag_sync#module:categories).
    type: list
    elements: str
  prism_name:
    description:
      - The name you give the Prism Central that sends to this source, for V({pc}) in O(tag_format), as
        O(netevents.nutanix.vm_tag_sync#module:prism_name); required when O(tag_format) names V({pc}).
    type: str
"""

EXAMPLES = r"""
- name: Nutanix VM events
  hosts: all
  sources:
    - netevents.nutanix.nutanix_webhook:
        host: 0.0.0.0
        port: 5001
        username: prism
        password: "{{ nutanix_webhook_password }}"
        certfile: /etc/eda/tls/webhook.crt
        keyfile: /etc/eda/tls/webhook.key
        allowed_networks:
          - 10.10.0.0/24
  rules:
    - name: Show VMs that start
      condition: event.nutanix.event_type == "VM.ON"
      action:
        debug:
          msg: "{{ event.nutanix.vm_name }} runs with {{ event.nutanix.ips }} and tags {{ event.nutanix.tags }}"
"""

log = logging.getLogger("netevents.nutanix.nutanix_webhook")

REALM = "netevents-eda"
_KNOWN_ARGS = ("host", "port", "path", "username", "password", "token", "path_token", "certfile", "keyfile",
               "allowed_networks", "max_body_bytes", "tag_format", "tag_mapping", "tag_categories", "prism_name")
_SETTINGS = web.AppKey("settings", object)
_QUEUE = web.AppKey("queue", object)


class Settings(object):
    """The source's validated arguments."""

    def __init__(self, args):
        errors = []
        args = dict(args or {})
        args.pop("eda_feedback_queue", None)  # ansible-rulebook may add it; this source sends no feedback
        unknown = sorted(k for k in args if k not in _KNOWN_ARGS)
        if unknown:
            errors.append("unknown argument(s) %s (known: %s)" % (", ".join(unknown), ", ".join(_KNOWN_ARGS)))

        def text(name, default=None):
            value = args.get(name)
            if value is None or value == "":  # "" is what a rulebook's "{{ x | default('') }}" gives: unset
                return default
            if not isinstance(value, str):
                errors.append("%s must be a string" % name)
                return default
            return value

        def integer(name, default, low, high):
            value = args.get(name, default)
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)  # a rulebook variable may arrive as text
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors.append("%s must be an integer between %d and %d, got %r" % (name, low, high, value))
                return default
            return value

        self.host = text("host", "0.0.0.0")
        if args.get("port") in (None, ""):
            errors.append("port is required")
            self.port = None
        else:
            self.port = integer("port", None, 1, 65535)
        self.path = text("path", receiver.DEFAULT_PATH)
        if receiver.path_problem(self.path):
            errors.append("path " + receiver.path_problem(self.path))
        username, password, token = text("username"), text("password"), text("token")
        path_token = text("path_token")
        if (username is None) != (password is None):
            errors.append("set both username and password (the webhook's credentials), or neither")
        if username and receiver.username_problem(username):
            errors.append("username " + receiver.username_problem(username))
        if path_token is not None and receiver.path_token_problem(path_token):
            errors.append("path_token " + receiver.path_token_problem(path_token))
            path_token = None
        if username is None and token is None and path_token is None:
            errors.append("set username and password (the credentials of the Prism webhook), token or path_token: "
                          "the source does not accept unauthenticated events")
        networks = []
        nets = args.get("allowed_networks") or []
        if isinstance(nets, str):
            nets = [n for n in nets.split(",") if n.strip()]
        if not isinstance(nets, list):
            errors.append("allowed_networks must be a list of networks (CIDR)")
            nets = []
        for net in nets:
            try:
                networks.append(receiver.network(net))
            except ValueError as e:
                errors.append("allowed_networks: %s" % e)
        max_body = integer("max_body_bytes", receiver.DEFAULT_MAX_BODY, *receiver.MAX_BODY_RANGE)
        self.certfile = text("certfile")
        self.keyfile = text("keyfile")
        if self.keyfile and not self.certfile:
            errors.append("keyfile needs certfile")
        self.ssl_context = None
        if self.certfile:
            self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                self.ssl_context.load_cert_chain(self.certfile, self.keyfile)
            except (OSError, ssl.SSLError) as e:
                errors.append("cannot use certfile %s%s: %s" % (
                    self.certfile, " with keyfile %s" % self.keyfile if self.keyfile else "", e))
        self.mapper = None
        try:
            self.mapper = TagMapper(text("tag_format", DEFAULT_TAG_FORMAT), mapping=args.get("tag_mapping"),
                                    categories=args.get("tag_categories"), prism_name=text("prism_name"))
        except TagError as e:
            errors.extend("%s: %s" % ({"categories": "tag_categories"}.get(option, option), message)
                          for option, message in e.problems)
        if errors:
            raise ValueError("netevents.nutanix.nutanix_webhook: " + "; ".join(errors))
        self.screen = receiver.Screen(path=self.path, username=username, password=password, token=token,
                                      path_token=path_token, networks=networks, realm=REALM, max_body=max_body)

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%s%s" % ("https" if self.ssl_context else "http", host, self.port, self.path)


async def _read_body(request, limit):
    """At most *limit* bytes of the body, whether it came with a Content-Length or chunked."""
    chunks, size = [], 0
    while size < limit:
        chunk = await request.content.readany()
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def normalise(event, document, settings, request_path, remote_addr):
    """The event as it goes on the queue: what the parser found, the body as sent, where it came from."""
    nutanix = event.to_dict()
    nutanix["complete"] = event.complete
    nutanix["tags"] = None if event.categories is None else sorted(settings.mapper.tags_for(event))
    return {"nutanix": nutanix, "payload": document, "meta": {"endpoint": settings.screen.loggable_path(request_path),
                                                              "remote_addr": remote_addr}}


async def _callback(request):
    settings = request.app[_SETTINGS]
    screen = settings.screen
    try:
        screen.check_head(request.remote, request.path, request.headers.get("Authorization"),
                          request.content_length, request.content_type)
        try:
            body = await _read_body(request, screen.read_limit)
        except Exception:  # pylint: disable=broad-except
            raise screen.incomplete() from None
        document, event = screen.check_body(body, request.content_length)
    except receiver.Refused as refused:
        # What the request carried (auth scheme, path token missing/wrong, the field at fault), never a secret.
        carried = " ".join("%s=%s" % item for item in sorted(refused.details.items()))
        log.warning("refused %s from %s: %s%s", refused.reason, request.remote, refused.message,
                    " (%s)" % carried if carried else "")
        return web.json_response(refused.body(), status=refused.status, headers=refused.headers)
    for dropped in event.dropped_ips:
        log.warning("VM %s: address left out of the event: %s", event.vm_uuid, dropped)
    if not event.known_event:
        log.info("ignored an event of unknown type %.64r for VM %s", event.event_type, event.vm_uuid)
        return web.json_response(receiver.IGNORED)
    await request.app[_QUEUE].put(normalise(event, document, settings, request.path, request.remote))
    log.info("%s for VM %s put on the queue", event.event_type, event.vm_uuid)
    return web.json_response({"status": "accepted"})


@web.middleware
async def _json_errors(request, handler):
    """Other paths and methods get the listener's short JSON errors too; nothing gets a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        headers = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
        name = (e.reason or "error").lower().replace(" ", "_")
        return web.json_response({"error": name, "message": "no such path" if e.status == 404 else e.reason},
                                 status=e.status, headers=headers)
    except Exception:  # pylint: disable=broad-except
        log.exception("unexpected error while handling %s %s", request.method,
                      request.app[_SETTINGS].screen.loggable_path(request.path))
        return web.json_response({"error": "internal_error", "message": "unexpected error; see the log"},
                                 status=500)


def make_app(queue, settings):
    app = web.Application(middlewares=[_json_errors])
    app[_SETTINGS] = settings
    app[_QUEUE] = queue
    app.router.add_route("POST", settings.path, _callback)
    if settings.screen.path_token is not None:
        # Any path below: a missing or wrong token is a 401 (logged as such), not a 404.
        app.router.add_route("POST", settings.path + "/{token:.*}", _callback)
    return app


async def main(queue, args):
    """Serve until cancelled (ansible-rulebook cancels sources at shutdown)."""
    settings = Settings(args)
    runner = web.AppRunner(make_app(queue, settings), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, ssl_context=settings.ssl_context)
        try:
            await site.start()
        except OSError as e:
            raise OSError("netevents.nutanix.nutanix_webhook cannot listen on %s port %s: %s"
                          % (settings.host, settings.port, e.strerror or e)) from None
        log.info("listening for Prism webhooks on %s", settings.url)
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    # Run by hand: print each event (python nutanix_webhook.py PORT USERNAME; the password comes from
    # the environment variable NUTANIX_WEBHOOK_PASSWORD, never from the command line).

    class _PrintQueue(object):
        async def put(self, event):
            print(json.dumps(event, indent=2, sort_keys=True))

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(_PrintQueue(), {"port": int(sys.argv[1]), "username": sys.argv[2],
                                     "password": os.environ.get("NUTANIX_WEBHOOK_PASSWORD")}))
