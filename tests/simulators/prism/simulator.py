"""PrismSimulator: webhooks, VMs and tasks as Prism keeps them, operations that complete after pending_seconds
(a scheduler thread), the events each completion emits, and the test controls."""
import collections
import copy
import heapq
import ipaddress
import itertools
import queue
import threading
import time
import uuid as uuidlib

from flask import jsonify

from tests.simulators._common import Simulator
from tests.simulators.prism.app import make_app
from tests.simulators.prism.delivery import Delivery
from tests.simulators.prism.entities import (
    API_VERSION, HOSTS, KNOWN_EVENTS, PAYLOAD_STYLES, ApiError, check_uuid, cluster_ref, clusters_of, new_uuid, now_iso,
    pc_cluster_uuid, render_cluster, render_vm, render_webhook)
from tests.simulators.prism.v4 import ALL_VERSIONS, PrismV4
from tests.simulators.prism.validation import check_spec_version, request_body, validate_vm, validate_webhook

# Seen on a real cluster: two VM.UPDATE events 2 s and 4 s after VM.CREATE, with nobody changing the VM.
UPDATES_AFTER_CREATE = (2.0, 4.0)


class PrismSimulator(Delivery, Simulator):
    """Prism v3, and Prism Central v4, on 127.0.0.1 over HTTPS (self-signed). See the package docstring and
    docs/simulators.md.

    name: the Prism Central's name (it lists itself under it among its clusters, as a real one does). clusters:
    the clusters it manages, as names or {"name", "uuid"} mappings (entities.clusters_of; default: one,
    sim-cluster); a VM goes where its create's cluster_reference says, else to the first.
    v4_versions: the v4 versions served (empty: a v3-only Prism, such as Prism Element). v3_webhooks=False: a
    Prism Central whose v3 webhooks are gone. api_key: also accept this X-ntnx-api-key (v3 and v4).
    ext_id_filter: honour, refuse or ignore a v4 $filter on extId (v4.py). updates_after_create: the delays of
    the unprompted VM.UPDATE events after each VM.CREATE (() for none). payload_style: the events' shape, 2019
    or 2017 (set_payload_style changes it, also per webhook).
    """

    def __init__(self, username="admin", password="secret", host="127.0.0.1", port=0, pending_seconds=0.3,
                 empty_nics_on_power_on=False, delivery_timeout=5.0, allow_remote_delivery=False,
                 v4_versions=ALL_VERSIONS, v3_webhooks=True, api_key=None, ext_id_filter="honour",
                 updates_after_create=UPDATES_AFTER_CREATE, payload_style="2019", name="sim-pc", clusters=None):
        self.name = name
        self.clusters = clusters_of(name, clusters)  # uuid -> name, in order
        self.username = username
        self.password = password
        self.api_key = api_key
        self.pending_seconds = float(pending_seconds)
        self.empty_nics_on_power_on = bool(empty_nics_on_power_on)
        self.delivery_timeout = float(delivery_timeout)
        self.allow_remote_delivery = bool(allow_remote_delivery)
        self.v3_webhooks = bool(v3_webhooks)
        self.updates_after_create = tuple(float(d) for d in updates_after_create)
        self.payload_styles = {}  # webhook uuid -> payload style, where it differs from payload_style
        self.v4 = PrismV4(self, versions=v4_versions, ext_id_filter=ext_id_filter)
        self.user_uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "prism-sim-user:%s" % username))

        # One lock guards all state; the condition wakes the scheduler and wait_for_* callers.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self.set_payload_style(payload_style)
        self.webhooks = collections.OrderedDict()  # uuid -> stored entity (spec/status keep the password)
        self.vms = collections.OrderedDict()  # uuid -> stored entity
        self.tasks = collections.OrderedDict()  # uuid -> v3 task
        self.deliveries = []
        self._calls = collections.Counter()
        self._busy = collections.Counter()  # entity uuid -> operations still pending
        self._timeline = []  # heap of (deadline, seq, callable): work that completes after pending_seconds
        self._seq = itertools.count()
        self._outbox = queue.Queue()  # deliveries, FIFO, so per-webhook order is the event order
        self._inflight = 0
        self._generation = 0  # bumped by reset() so work queued before it is dropped
        self._stopping = False
        self._threads = []
        super().__init__(make_app(self), host=host, port=port)

    def start(self):
        self._stopping = False
        for target, name in ((self._scheduler_loop, "prism-sim-tasks"), (self._delivery_loop, "prism-sim-deliver")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return super().start()

    def stop(self):
        super().stop()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=self.delivery_timeout + 2)
        self._threads = []

    # ------------------------------------------------------------------ test helpers
    def wait_for_deliveries(self, count, timeout=10):
        """Block until at least *count* deliveries are recorded (or *timeout*); return a copy of them."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.deliveries) >= count, timeout)
            return [dict(d) for d in self.deliveries]

    def wait_idle(self, timeout=10):
        """Block until no operation is pending and every queued delivery was attempted. Returns True if idle."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._timeline and self._inflight == 0, timeout)

    def stats(self):
        """calls: per "METHOD route"; calls_by_api: v3 (/api/nutanix/...) and v4 (any other /api/ path, also
        those it does not serve, such as the discovery of a v3-only Prism)."""
        with self._lock:
            by_api = collections.Counter()
            for call, count in self._calls.items():
                path = call.split(" ", 1)[1]
                by_api["v3" if path.startswith("/api/nutanix/") else "v4" if path.startswith("/api/") else
                       "other"] += count
            return {
                "calls": dict(self._calls),
                "calls_by_api": dict({"v3": 0, "v4": 0}, **by_api),
                "webhooks": len(self.webhooks),
                "vms": len(self.vms),
                "deliveries": len(self.deliveries),
                "failed_deliveries": sum(1 for d in self.deliveries if d["error"] or (d["status_code"] or 0) >= 300),
            }

    def reset(self):
        """Forget every entity, task, delivery and counter; queued work is dropped."""
        with self._cond:
            self._generation += 1
            self.webhooks.clear()
            self.vms.clear()
            self.tasks.clear()
            self.deliveries = []
            self._calls.clear()
            self._busy.clear()
            self._timeline = []
            while True:
                try:
                    self._outbox.get_nowait()
                except queue.Empty:
                    break
            self._inflight = 0
            self._cond.notify_all()

    def set_payload_style(self, style, webhook_uuid=None):
        """Send events in *style* (2019 or 2017: see entities.render_vm_event), to one webhook or to all."""
        if style not in PAYLOAD_STYLES:
            raise ValueError("payload_style must be one of %s, not %r" % (PAYLOAD_STYLES, style))
        with self._lock:
            if webhook_uuid is None:
                self.payload_style = style
            else:
                self.payload_styles[webhook_uuid] = style

    def migrate_vm(self, vm_uuid, cluster=None):
        """Move a VM to the other host, or to the cluster named *cluster*, and emit VM.MIGRATE (the API cannot
        trigger a migration). Raises KeyError for an unknown VM or cluster."""
        with self._lock:
            vm = self.vms[vm_uuid]
            res = vm["status"].setdefault("resources", {})
            if cluster is not None:
                uuid = next((u for u, name in self.clusters.items() if cluster in (u, name)), None)
                if uuid is None:
                    raise KeyError("no cluster %r in %s" % (cluster, sorted(self.clusters.values())))
                vm["spec"]["cluster_reference"] = cluster_ref(uuid, self.clusters[uuid])
                vm["status"]["cluster_reference"] = cluster_ref(uuid, self.clusters[uuid])
            current = (res.get("host_reference") or {}).get("uuid")
            res["host_reference"] = copy.deepcopy(HOSTS[1] if current == HOSTS[0]["uuid"] else HOSTS[0])
            self._emit("VM.MIGRATE", vm)

    def cluster_entities(self):
        """{uuid: v3 cluster entity}: the clusters, then the entry the Prism Central lists for itself."""
        entries = [(uuid, name, "AOS") for uuid, name in self.clusters.items()]
        entries.append((pc_cluster_uuid(self.name), self.name, "PRISM_CENTRAL"))
        return collections.OrderedDict((e[0], render_cluster(*e)) for e in entries)

    def seed_vms(self, count, name_prefix="seed", categories=None, power_state="ON", first_ip="10.128.0.1"):
        """Test control (benchmarks): store *count* completed VMs at once, without tasks or events.

        Each VM is built as ``POST /vms`` followed by its completion would build it (same validation, NIC
        defaults, status), with one NIC whose address is *first_ip* + i. Returns the new uuids, in order.
        """
        base = ipaddress.ip_address(first_ip)
        uuids = []
        with self._cond:
            for i in range(int(count)):
                body = {"metadata": {"kind": "vm", "categories": dict(categories or {})},
                        "spec": {"name": "%s-%05d" % (name_prefix, i), "resources": {
                            "power_state": power_state, "nic_list": [{"ip_endpoint_list": [{"ip": str(base + i)}]}]}}}
                spec, cats = validate_vm(body, self.clusters)
                vm = self._new_entity("vm", spec, cats, status=self._vm_status(copy.deepcopy(spec), {}))
                self.vms[vm["metadata"]["uuid"]] = vm
                uuids.append(vm["metadata"]["uuid"])
        return uuids

    def emit_vm_event(self, vm_uuid, event_type):
        """Test control (benchmarks): send *event_type* for a stored VM now, carrying its current state, as if an
        operation had just completed (no state changes). Raises KeyError for an unknown VM."""
        if event_type not in KNOWN_EVENTS:
            raise ValueError("unknown event type %r" % (event_type,))
        with self._cond:
            self._emit(event_type, self.vms[vm_uuid])

    # ------------------------------------------------------------------ scheduling and tasks
    def _schedule(self, fn, delay=None):
        delay = self.pending_seconds if delay is None else delay
        heapq.heappush(self._timeline, (time.monotonic() + delay, next(self._seq), fn))
        self._cond.notify_all()

    def _settle(self):
        """Run every operation whose time has come. Called under the lock by the scheduler and each request,
        so a GET after pending_seconds never sees PENDING, whatever the scheduler thread is doing."""
        now = time.monotonic()
        while self._timeline and self._timeline[0][0] <= now:
            heapq.heappop(self._timeline)[2]()
        if not self._timeline:
            self._cond.notify_all()  # wake wait_idle()

    def _scheduler_loop(self):
        with self._cond:
            while not self._stopping:
                self._settle()
                timeout = max(0.0, self._timeline[0][0] - time.monotonic()) if self._timeline else None
                self._cond.wait(timeout)

    def _new_task(self, operation, kind, entity_uuid):
        task_uuid = new_uuid()
        self.tasks[task_uuid] = {
            "api_version": API_VERSION,
            "uuid": task_uuid,
            "status": "QUEUED",
            "operation_type": operation,
            "percentage_complete": 0,
            "progress_message": operation,
            "entity_reference_list": [{"kind": kind, "uuid": entity_uuid}],
            "creation_time": now_iso(),
        }
        self._busy[entity_uuid] += 1
        return task_uuid

    def _finish_task(self, task_uuid, entity_uuid):
        task = self.tasks.get(task_uuid)
        if task:
            task.update(status="SUCCEEDED", percentage_complete=100, completion_time=now_iso())
        self._busy[entity_uuid] -= 1
        if self._busy[entity_uuid] <= 0:
            del self._busy[entity_uuid]

    # ------------------------------------------------------------------ intentful entities
    def _new_entity(self, kind, spec, categories=None, status=None):
        """A stored entity as Prism keeps a new one: spec_version 0, owner, times, an empty status."""
        now = now_iso()
        metadata = {"kind": kind, "uuid": new_uuid(), "spec_version": 0}
        if categories is not None:
            metadata["categories"] = categories
        metadata.update(creation_time=now, last_update_time=now,
                        owner_reference={"kind": "user", "uuid": self.user_uuid, "name": self.username})
        return {"api_version": API_VERSION, "metadata": metadata, "spec": spec, "status": status or {}}

    def _get_or_404(self, store, kind, entity_uuid):
        check_uuid(entity_uuid)
        entity = store.get(entity_uuid)
        if entity is None:
            raise ApiError(404, "ENTITY_NOT_FOUND", "%s %s not found" % (kind, entity_uuid))
        return entity

    def _accept(self, store, entity, operation, complete):
        """Store *entity* PENDING on a new task, run *complete(task_uuid)* after pending_seconds; answer 202."""
        kind, entity_uuid = entity["metadata"]["kind"], entity["metadata"]["uuid"]
        task_uuid = self._new_task(operation, kind, entity_uuid)
        self._pending_status(entity, task_uuid)
        store[entity_uuid] = entity
        self._schedule(lambda: complete(task_uuid))
        out = (render_vm if kind == "vm" else render_webhook)(entity)
        out["status"] = {"state": "PENDING", "execution_context": {"task_uuid": task_uuid}}
        return jsonify(out), 202

    @staticmethod
    def _pending_status(entity, task_uuid, state="PENDING"):
        entity["status"]["state"] = state
        entity["status"]["execution_context"] = {"task_uuid": task_uuid}

    def _complete_status(self, entity_uuid, entity, status):
        """Apply *status* unless the entity went away; keep PENDING while later operations are queued."""
        if self._busy.get(entity_uuid):
            status["state"] = "PENDING"
            status["execution_context"] = entity["status"].get("execution_context")
        entity["status"] = status
        entity["metadata"]["last_update_time"] = now_iso()

    def _delete(self, store, kind, entity_uuid, on_deleted=None):
        entity = self._get_or_404(store, kind, entity_uuid)
        task_uuid = self._new_task("delete_%s" % kind, kind, entity_uuid)
        self._pending_status(entity, task_uuid, "DELETE_PENDING")

        def complete():
            self._finish_task(task_uuid, entity_uuid)
            gone = store.pop(entity_uuid, None)
            if gone is not None and on_deleted:
                on_deleted(gone)
        self._schedule(complete)
        # Prism answers a delete with an empty spec and only the kind in metadata.
        return jsonify({"api_version": API_VERSION, "metadata": {"kind": kind}, "spec": "",
                        "status": {"state": "DELETE_PENDING", "execution_context": {"task_uuid": task_uuid}}}), 202

    # ------------------------------------------------------------------ webhooks
    def create_webhook(self):
        spec = validate_webhook(request_body())
        hook = self._new_entity("webhook", spec)
        hook_uuid = hook["metadata"]["uuid"]
        return self._accept(self.webhooks, hook, "create_webhook",
                            lambda task: self._complete_webhook(hook_uuid, task, copy.deepcopy(spec)))

    def _complete_webhook(self, hook_uuid, task_uuid, spec):
        self._finish_task(task_uuid, hook_uuid)
        hook = self.webhooks.get(hook_uuid)
        if hook is None or hook["status"].get("state") == "DELETE_PENDING":
            return
        status = {"state": "COMPLETE", "name": spec["name"], "resources": copy.deepcopy(spec["resources"])}
        if "description" in spec:
            status["description"] = spec["description"]
        self._complete_status(hook_uuid, hook, status)

    def get_webhook(self, entity_uuid):
        return jsonify(render_webhook(self._get_or_404(self.webhooks, "webhook", entity_uuid)))

    def update_webhook(self, entity_uuid):
        hook = self._get_or_404(self.webhooks, "webhook", entity_uuid)
        body = request_body()
        spec = validate_webhook(body)
        check_spec_version(hook, body["metadata"], "webhook", entity_uuid)
        # GET never shows the password, so a PUT built from a GET may omit it: keep the stored one then.
        creds = spec["resources"].get("credentials")
        old_creds = hook["spec"]["resources"].get("credentials") or {}
        if creds and "password" not in creds and creds.get("username") == old_creds.get("username"):
            creds["password"] = old_creds.get("password")
        hook["spec"] = spec
        hook["metadata"]["spec_version"] += 1
        return self._accept(self.webhooks, hook, "update_webhook",
                            lambda task: self._complete_webhook(entity_uuid, task, copy.deepcopy(spec)))

    # ------------------------------------------------------------------ VMs
    def create_vm(self):
        spec, categories = validate_vm(request_body(), self.clusters)
        vm = self._new_entity("vm", spec, categories)
        vm_uuid = vm["metadata"]["uuid"]
        return self._accept(self.vms, vm, "VmCreate",
                            lambda task: self._complete_vm(vm_uuid, task, copy.deepcopy(spec), None, categories))

    def _vm_status(self, spec, old_status):
        res = copy.deepcopy(spec["resources"])
        res.setdefault("hypervisor_type", "AHV")
        old_host = (old_status.get("resources") or {}).get("host_reference")
        if res["power_state"] == "ON":
            res["host_reference"] = old_host or copy.deepcopy(HOSTS[0])
        else:
            res.pop("host_reference", None)
        status = {"state": "COMPLETE", "name": spec["name"], "resources": res,
                  "cluster_reference": copy.deepcopy(spec["cluster_reference"])}
        if "description" in spec:
            status["description"] = spec["description"]
        return status

    def _complete_vm(self, vm_uuid, task_uuid, spec, old_categories, new_categories):
        """Apply a create/update and emit what AOS emits. old_categories is None for a create."""
        self._finish_task(task_uuid, vm_uuid)
        vm = self.vms.get(vm_uuid)
        if vm is None or vm["status"].get("state") == "DELETE_PENDING":
            return
        old_status = vm["status"]
        before = old_status.get("resources")
        self._complete_status(vm_uuid, vm, self._vm_status(spec, old_status))
        after = vm["status"]["resources"]
        if before is None:  # creation
            self._emit("VM.CREATE", vm)
            if after["power_state"] == "ON":
                self._emit("VM.ON", vm)
            for delay in self.updates_after_create:
                self._schedule(lambda: self._unprompted_update(vm_uuid), delay)
            return
        was_on, is_on = before.get("power_state") == "ON", after["power_state"] == "ON"
        if was_on and not is_on:
            self._emit("VM.OFF", vm)  # AHV powers off before reconfiguring
        old_nics = dict((n["uuid"], n) for n in before.get("nic_list", []))
        new_nics = dict((n["uuid"], n) for n in after.get("nic_list", []))
        unplugged = [u for u in old_nics if u not in new_nics]
        plugged = [u for u in new_nics if u not in old_nics]
        for _nic_uuid in unplugged:
            self._emit("VM.NIC_UNPLUG", vm)
        for _nic_uuid in plugged:
            self._emit("VM.NIC_PLUG", vm)

        # Anything but the power state (and where the VM runs) is a configuration change.
        def config(status):
            res = dict((k, v) for k, v in status["resources"].items() if k not in ("power_state", "host_reference"))
            return status.get("name"), status.get("description"), res
        if unplugged or plugged or old_categories != new_categories or config(old_status) != config(vm["status"]):
            self._emit("VM.UPDATE", vm)
        if is_on and not was_on:
            self._emit("VM.ON", vm)  # and powers on after

    def _unprompted_update(self, vm_uuid):
        vm = self.vms.get(vm_uuid)
        if vm is not None and vm["status"].get("state") != "DELETE_PENDING":
            self._emit("VM.UPDATE", vm, unprompted=True)

    def get_vm(self, entity_uuid):
        return jsonify(render_vm(self._get_or_404(self.vms, "vm", entity_uuid)))

    def update_vm(self, entity_uuid):
        vm = self._get_or_404(self.vms, "vm", entity_uuid)
        body = request_body()
        spec, categories = validate_vm(body, self.clusters, old_nics=vm["spec"]["resources"].get("nic_list", []),
                                       old_cluster=vm["spec"]["cluster_reference"])
        check_spec_version(vm, body["metadata"], "vm", entity_uuid)
        old_categories = vm["metadata"].get("categories", {})
        # PUT replaces the intent: metadata.categories omitted means none (as in Prism).
        vm["metadata"]["categories"] = categories
        vm["spec"] = spec
        vm["metadata"]["spec_version"] += 1
        return self._accept(self.vms, vm, "VmUpdate", lambda task: self._complete_vm(
            entity_uuid, task, copy.deepcopy(spec), old_categories, categories))

    # ------------------------------------------------------------------ misc API
    def users_me(self):
        return jsonify({
            "api_version": API_VERSION,
            "metadata": {"kind": "user", "uuid": self.user_uuid, "spec_version": 0, "categories": {}},
            "spec": {"resources": {}},
            "status": {"state": "COMPLETE", "name": self.username, "resources": {
                "display_name": self.username, "user_type": "LOCAL",
                "access_control_policy_reference_list": [], "projects_reference_list": []}},
        })

    def get_task(self, task_uuid):
        task = self.tasks.get(task_uuid)
        if task is None:
            raise ApiError(404, "ENTITY_NOT_FOUND", "task %s not found" % task_uuid)
        return jsonify(task)
