"""Webhook events: queued when an operation completes, then POSTed one by one, in order, as Prism sends them."""
import base64
import http.client
import ipaddress
import json
import ssl
import time
from urllib.parse import urlsplit

from tests.simulators.prism.entities import render_vm_event


def is_loopback_host(host):
    """True for literal loopback addresses and 'localhost' (never resolve names: no DNS from a test tool)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Delivery(object):
    """Mixin of PrismSimulator: ``self._outbox`` (FIFO of deliveries), ``self._inflight``, ``self.deliveries``,
    ``self.payload_style`` and ``self.payload_styles`` (per webhook uuid).

    Lost deliveries (test control, off by default): ``drop_next(n)`` loses the next *n* deliveries, and
    ``drop_if`` (a callable taking a delivery dict with ``event_type``, ``vm_uuid``, ``webhook_uuid`` and
    ``post_url``) loses each one it returns true for. A lost delivery is never POSTed, as when the network or the
    receiver drops it and Prism does not retry; it is recorded with ``dropped: True``, no status code and an error.
    """
    drop_if = None
    _drops_left = 0

    def drop_next(self, count=1):
        """Lose the next *count* deliveries (any webhook, any event type); 0 cancels."""
        if int(count) < 0:
            raise ValueError("count must be >= 0, got %r" % (count,))
        with self._cond:
            self._drops_left = int(count)

    def _lost(self, item):
        """Whether this delivery is to be dropped (under the lock)."""
        if self._drops_left > 0:
            self._drops_left -= 1
            return True
        return bool(self.drop_if is not None and self.drop_if(item))

    def _event_body(self, event_type, vm, style):
        entity = render_vm_event(vm, style, power_event=event_type in ("VM.ON", "VM.OFF"))
        if event_type == "VM.ON" and self.empty_nics_on_power_on:
            # Some AOS versions send VM.ON before the NICs are reported: the payload is a hint, not the truth.
            for part in ("spec", "status"):
                if isinstance(entity.get(part), dict):
                    entity[part].setdefault("resources", {})["nic_list"] = []
        return json.dumps({
            "entity_reference": {"kind": "vm", "uuid": vm["metadata"]["uuid"]},
            "data": {"metadata": entity},
            "version": "1.0",
            "event_type": event_type,
        }).encode("utf-8")

    def _emit(self, event_type, vm, unprompted=False):
        """Queue the event for every webhook subscribed to it (under the lock; never blocks on the network).
        *unprompted*: an event Prism sends with nobody changing the VM (recorded so, never in the payload)."""
        bodies = {}  # payload style -> body
        for hook_uuid, hook in self.webhooks.items():
            applied = hook["status"].get("resources")
            # A webhook fires once its creation completed, with its last applied configuration; deleting stops it.
            if not applied or hook["status"]["state"] == "DELETE_PENDING":
                continue
            if event_type not in applied.get("events_filter_list", []):
                continue
            creds = applied.get("credentials") or {}
            style = self.payload_styles.get(hook_uuid, self.payload_style)
            if style not in bodies:
                bodies[style] = self._event_body(event_type, vm, style)
            self._inflight += 1
            self._outbox.put({
                "generation": self._generation,
                "webhook_uuid": hook_uuid,
                "post_url": applied["post_url"],
                "username": creds.get("username"),
                "password": creds.get("password"),
                "event_type": event_type,
                "vm_uuid": vm["metadata"]["uuid"],
                "unprompted": unprompted,
                "body": bodies[style],
            })

    def _delivery_loop(self):
        while True:
            item = self._outbox.get()
            if item is None:
                return
            sent = time.time()
            with self._cond:
                dropped = self._lost(item)
            status_code, error = (None, "dropped (simulated)") if dropped else self._post(item)
            with self._cond:
                if item["generation"] != self._generation:
                    continue  # reset() happened meanwhile
                self.deliveries.append({
                    "webhook_uuid": item["webhook_uuid"],
                    "post_url": item["post_url"],
                    "event_type": item["event_type"],
                    "vm_uuid": item["vm_uuid"],
                    "unprompted": item["unprompted"],
                    "dropped": dropped,
                    "status_code": status_code,
                    "error": error,
                    "sent": sent,  # when the POST started
                    "time": time.time(),
                })
                self._inflight -= 1
                self._cond.notify_all()

    def _post(self, item):
        """POST one event like Prism does: basic auth, no TLS verification of the receiver, short timeout."""
        parts = urlsplit(item["post_url"])
        if not self.allow_remote_delivery and not is_loopback_host(parts.hostname):
            return None, "not delivered: %s is not a loopback address (start with --allow-remote-delivery)" % (
                parts.hostname,)
        headers = {"Content-Type": "application/json", "Accept": "*/*", "User-Agent": "Nutanix-Webhook/1.0"}
        if item["username"]:
            token = "%s:%s" % (item["username"], item["password"] or "")
            headers["Authorization"] = "Basic " + base64.b64encode(token.encode("utf-8")).decode("ascii")
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        # http.client rather than requests: no proxy from the environment, no global warning filters to touch.
        if parts.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.delivery_timeout,
                                               context=context)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.delivery_timeout)
        try:
            conn.request("POST", path, body=item["body"], headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status, None
        except (OSError, http.client.HTTPException) as exc:
            return None, "%s: %s" % (type(exc).__name__, exc)
        finally:
            conn.close()
