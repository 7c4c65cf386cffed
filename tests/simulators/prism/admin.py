"""PrismAdmin: the collection's PrismClient plus the VM writes only tests, the demo and the simulator's command
line make (create, update, delete, power, categories, IPs). The collection itself never changes a VM."""
from urllib.parse import quote

from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismClient, PrismError


class PrismAdmin(PrismClient):
    """A PrismClient that also writes VMs. *ca_path* trusts that certificate (a simulator's) instead of the
    system's CAs."""

    def __init__(self, host, ca_path=None, **kwargs):
        super().__init__(host, **kwargs)
        if ca_path:
            self.verify = ca_path

    def create_vm(self, spec, metadata=None):
        return self.request("POST", "/vms", {"metadata": self._metadata("vm", metadata=metadata), "spec": spec})

    def new_vm(self, name, ips=(), categories=None, power="ON", wait=True, cluster=None):
        """Create VM *name* with one NIC per address in *ips*, on the cluster named *cluster* (default: where
        Prism puts it); return its uuid (once COMPLETE, with *wait*)."""
        nics = [{"ip_endpoint_list": [{"ip": ip, "type": "ASSIGNED"}]} for ip in ips]
        spec = {"name": name, "resources": {"power_state": power, "nic_list": nics}}
        if cluster is not None:
            spec["cluster_reference"] = {"kind": "cluster", "uuid": self.cluster_uuid(cluster)}
        created = self.create_vm(spec, metadata={"categories": dict(categories or {})})
        uuid = created["metadata"]["uuid"]
        if wait:
            self.wait_for_vm(uuid)
        return uuid

    def cluster_uuid(self, name):
        """The uuid of the cluster named *name* (POST /clusters/list), not the Prism Central's own entry."""
        for cluster in self._list("cluster"):
            config = ((cluster.get("status") or {}).get("resources") or {}).get("config") or {}
            if (cluster.get("status") or {}).get("name") == name and "PRISM_CENTRAL" not in config.get(
                    "service_list", ()):
                return cluster["metadata"]["uuid"]
        raise PrismError("Prism manages no cluster named %r" % (name,))

    def update_vm(self, uuid, spec, spec_version, metadata=None):
        """PUT the VM's whole intent; metadata (e.g. from a GET) carries the categories, which PUT replaces."""
        return self.request("PUT", "/vms/%s" % quote(uuid, safe=""),
                            {"metadata": self._metadata("vm", uuid, spec_version, metadata), "spec": spec})

    def delete_vm(self, uuid):
        self.request("DELETE", "/vms/%s" % quote(uuid, safe=""))

    def wait_for_vm(self, uuid, timeout=60):
        return self._wait("vm", uuid, timeout)

    def wait_for_vm_deleted(self, uuid, timeout=60):
        self._wait("vm", uuid, timeout, gone=True)

    def modify_vm(self, uuid, change, attempts=3):
        """GET the VM, let *change(vm)* edit its spec or metadata in place (returning False when there is nothing
        to do), PUT it back with the current spec_version, and again if someone changed it meanwhile (409).
        Returns the PUT's answer, or the VM as it is when there was nothing to do."""
        for attempt in range(attempts):
            vm = self.get_vm(uuid)
            if change(vm) is False:
                return vm
            try:
                return self.update_vm(uuid, vm["spec"], vm["metadata"]["spec_version"], metadata=vm["metadata"])
            except PrismError as e:
                if e.status_code != 409 or attempt == attempts - 1:
                    raise
        return None  # not reached

    def set_power_state(self, uuid, state, attempts=3):
        """Power a VM "ON" or "OFF" (nothing is sent when it already is)."""
        if state not in ("ON", "OFF"):
            raise PrismError("power state must be 'ON' or 'OFF', not %r" % (state,))

        def change(vm):
            resources = vm["spec"].setdefault("resources", {})
            if resources.get("power_state") == state:
                return False
            resources["power_state"] = state
            return True
        return self.modify_vm(uuid, change, attempts)

    def set_categories(self, uuid, categories):
        """Replace the VM's categories ({"AppTier": "Web"}) — a VM.UPDATE."""
        def change(vm):
            vm["metadata"]["categories"] = dict(categories)
            vm["metadata"].pop("categories_mapping", None)
        return self.modify_vm(uuid, change)

    def set_ips(self, uuid, ips, new_nic=False):
        """Give the VM's first NIC exactly *ips* (a NIC is added if it has none) — a VM.UPDATE; with *new_nic*,
        plug a new NIC carrying *ips* instead — VM.NIC_PLUG, then VM.UPDATE."""
        endpoints = [{"ip": ip, "type": "ASSIGNED"} for ip in ips]

        def change(vm):
            nics = vm["spec"]["resources"].setdefault("nic_list", [])
            if new_nic or not nics:
                nics.append({"ip_endpoint_list": endpoints})
            else:
                nics[0]["ip_endpoint_list"] = endpoints
        return self.modify_vm(uuid, change)

    def find_vm(self, name_or_uuid):
        """The VM with this uuid, or the one VM with exactly this name; PrismError otherwise."""
        named = [vm for vm in self.list_vms() if name_or_uuid in (vm["metadata"]["uuid"], vm["spec"].get("name"))]
        if not named:
            raise PrismError("no VM has the name or uuid %r" % name_or_uuid)
        if len(named) > 1:
            raise PrismError("%d VMs are named %r: give the uuid" % (len(named), name_or_uuid))
        return named[0]
