"""The fixed parts of Prism's v3 entities: the API version, the events, the one cluster and its hosts, ids and
times, the v3 error body, and entities rendered as Prism shows them (never a webhook's password)."""
import copy
import datetime
import random
import uuid as uuidlib

API_VERSION = "3.1"
KNOWN_EVENTS = (
    "VM.CREATE", "VM.DELETE", "VM.ON", "VM.OFF", "VM.UPDATE", "VM.MIGRATE", "VM.NIC_PLUG", "VM.NIC_UNPLUG",
)
# Fixed identities so payloads look like one small cluster.
CLUSTER_REF = {"kind": "cluster", "name": "sim-cluster", "uuid": "00000000-0000-4000-8000-00000000c1c1"}
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
    """Raised by handlers; rendered as a v3 error body."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.body = {
            "api_version": API_VERSION,
            "code": code,
            "kind": "error",
            "state": "ERROR",
            "message_list": [{"reason": reason, "message": message, "details": details or {}}],
        }


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
