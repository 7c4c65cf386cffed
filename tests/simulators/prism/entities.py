"""The fixed parts of Prism's v3 entities: the API version, the events, the default cluster and the hosts, a
Prism Central's clusters, ids and times, the v3 error body, and entities rendered as Prism shows them (never a
webhook's password) or as an older AOS put them in a webhook event."""
import copy
import datetime
import random
import uuid as uuidlib

API_VERSION = "3.1"
KNOWN_EVENTS = (
    "VM.CREATE", "VM.DELETE", "VM.ON", "VM.OFF", "VM.UPDATE", "VM.MIGRATE", "VM.NIC_PLUG", "VM.NIC_UNPLUG",
)
# Fixed identities so payloads look like one small cluster (a simulator's only cluster unless it is given others).
CLUSTER_REF = {"kind": "cluster", "name": "sim-cluster", "uuid": "00000000-0000-4000-8000-00000000c1c1"}
_CLUSTER_IDS = uuidlib.UUID("1f0c7a52-3b1e-4c8e-9d3a-6a2b5c4d7e90")  # uuids of named clusters: stable per name
HOSTS = [
    {"kind": "host", "name": "sim-host-1", "uuid": "00000000-0000-4000-8000-0000000000a1"},
    {"kind": "host", "name": "sim-host-2", "uuid": "00000000-0000-4000-8000-0000000000a2"},
]
DEFAULT_SUBNET_REF = {"kind": "subnet", "name": "vlan0", "uuid": "00000000-0000-4000-8000-00000000d0d0"}


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uuid():
    return str(uuidlib.uuid4())


def random_mac():
    # 50:6b:8d is the prefix AHV uses for NICs it creates.
    return "50:6b:8d:%02x:%02x:%02x" % (random.randint(0, 255), random.randint(0, 255), random.randint(0, 255))


class ApiError(Exception):
    """Raised by handlers; rendered as a v3 error body. Its ``kind`` is the entity kind the call was about
    ("vm", "webhook"), as in Prism; left None, the app takes it from the URL."""

    def __init__(self, code, reason, message, details=None, kind=None):
        super().__init__(message)
        self.code = code
        self.body = {
            "api_version": API_VERSION,
            "code": code,
            "kind": kind,
            "state": "ERROR",
            "message_list": [{"reason": reason, "message": message, "details": details or {}}],
        }


def check_uuid(text):
    """400 INVALID_UUID for an entity path whose uuid is not one (a GET on /vms/list is one such)."""
    try:
        uuidlib.UUID(text)
    except ValueError:
        raise ApiError(400, "INVALID_UUID", "Invalid UUID passed. %s" % text)


def clusters_of(pc_name, clusters=None):
    """{uuid: name} of the AOS clusters a simulated Prism Central manages, in order (the first is where a VM goes
    when its create names none). *clusters*: names, or {"name", "uuid"} mappings; None: CLUSTER_REF alone. A
    cluster given by name only gets a uuid made from the Prism Central's name and its own, so two simulators'
    clusters never share one."""
    if clusters is None:
        return {CLUSTER_REF["uuid"]: CLUSTER_REF["name"]}
    out = {}
    for cluster in clusters:
        name, uuid = (cluster, None) if isinstance(cluster, str) else (cluster.get("name"), cluster.get("uuid"))
        if not isinstance(name, str) or not name:
            raise ValueError("a cluster is a name or a mapping with name (and uuid), not %r" % (cluster,))
        uuid = str(uuidlib.UUID(uuid)) if uuid else str(uuidlib.uuid5(_CLUSTER_IDS, "%s/%s" % (pc_name, name)))
        if uuid in out or name in out.values():
            raise ValueError("cluster %r (%s) is given twice" % (name, uuid))
        out[uuid] = name
    if not out:
        raise ValueError("a Prism Central manages at least one cluster")
    return out


def cluster_ref(uuid, name):
    return {"kind": "cluster", "name": name, "uuid": uuid}


def pc_cluster_uuid(pc_name):
    """The uuid of the entry a Prism Central lists for itself among its clusters."""
    return str(uuidlib.uuid5(_CLUSTER_IDS, "prism-central:%s" % pc_name))


def render_cluster(uuid, name, function, with_api_version=True):
    """A v3 cluster entity, as much of it as clients read: its name and its service_list (["AOS"], or
    ["PRISM_CENTRAL"] for the entry a Prism Central lists for itself)."""
    out = {"api_version": API_VERSION,
           "metadata": {"kind": "cluster", "uuid": uuid, "spec_version": 0},
           "spec": {"name": name, "resources": {}},
           "status": {"state": "COMPLETE", "name": name,
                      "resources": {"config": {"service_list": [function]}}}}
    if not with_api_version:
        out.pop("api_version")
    return out


def _strip_password(resources):
    creds = (resources or {}).get("credentials")
    if isinstance(creds, dict):
        creds.pop("password", None)


def render_webhook(hook, with_api_version=True):
    out = copy.deepcopy(hook)
    # Prism never returns the webhook password.
    _strip_password(out["spec"].get("resources"))
    _strip_password(out["status"].get("resources"))
    if not with_api_version:
        out.pop("api_version", None)
    return out


def render_vm(vm, with_api_version=True):
    out = copy.deepcopy(vm)
    cats = out["metadata"].get("categories") or {}
    out["metadata"]["categories_mapping"] = dict((k, [v]) for k, v in cats.items())
    if not with_api_version:
        out.pop("api_version", None)
    return out


PAYLOAD_STYLES = ("2019", "2017")


def render_vm_event(vm, style="2019", power_event=False):
    """The VM as a webhook event carries it: as a 2019 capture shows it (the v3 entity, api_version 3.1), or as
    2017-2018 AOS sent it: network_reference for subnet_reference, entity_version for spec_version,
    memory_size_mb for memory_size_mib, api_version 3.0, and an empty nic_list on VM.ON and VM.OFF."""
    out = render_vm(vm, with_api_version=True)
    if style == "2019":
        return out
    out["api_version"] = "3.0"
    out["metadata"]["entity_version"] = out["metadata"].pop("spec_version", None)
    for part in ("spec", "status"):
        resources = (out.get(part) or {}).get("resources")
        if not isinstance(resources, dict):
            continue
        if "memory_size_mib" in resources:
            resources["memory_size_mb"] = resources.pop("memory_size_mib")
        for nic in resources.get("nic_list", []):
            if "subnet_reference" in nic:
                nic["network_reference"] = nic.pop("subnet_reference")
        if power_event:
            resources["nic_list"] = []
    return out
