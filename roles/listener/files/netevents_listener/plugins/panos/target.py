# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One firewall of the panos plugin: its connection, what the plugin registered on it, and the two ways to send
it a change set — all through the collection's one PAN-OS client (module_utils/panos.py)."""
from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api

from ...api import Secret, register_secret
from .state import Memory


class Target(object):
    """The connection is made on first use and dropped after a failure. Every method may raise PanosError."""

    def __init__(self, options, api_timeout, db, metrics):
        self.label = "%s:%d/%s" % (options["ip_address"], options["port"], options["vsys"])
        self.vsys = options["vsys"]
        self.api_timeout = api_timeout
        self._provider = dict((k, v.reveal() if isinstance(v, Secret) else v) for k, v in options.items()
                              if k != "vsys" and v is not None)
        self._device = None
        self._db = db
        self._metrics = metrics
        self.memory = Memory(db.load(self.label))

    def device(self):
        if self._device is None:
            device = panos_api.connect(self._provider, vsys=self.vsys, timeout=self.api_timeout)
            # The key keygen made from the password is as secret as the password: mask it in logs too.
            register_secret(getattr(panos_api.pan_device(device), "api_key", None))
            self._device = device
        return self._device

    def forget(self):
        self._device = None

    def remember(self, records, replace=False):
        """What the firewall now holds for these VMs ({uuid: Record or None}); replace=True: for every VM."""
        self._db.save(self.label, records, replace=replace)
        if replace:
            self.memory = Memory(records)
        for uuid, record in () if replace else records.items():
            self.memory.set(uuid, record)

    def register(self, desired, before, timeout):
        """registered-ip mode: every tag of *desired* ({ip: tags}) registered again (which heals a firewall that lost
        them), what *before* had beyond it unregistered; ONE User-ID call. Returns (plan, calls)."""
        plan = panos_api.plan_registered_ips(desired, before, refresh=True)
        calls = 0
        if plan.changed:
            calls = panos_api.apply_registered_ips(self.device(), register=plan.register, unregister=plan.unregister,
                                                   timeout=timeout)
            self._metrics.userid_calls.inc(calls)
        return plan, calls

    def sync_objects(self, desired, prefix, owns, scope, commit_timeout):
        """address-object mode: the objects named *prefix* + IP made to match *desired* ({ip: (tags, description)}),
        then ONE commit. Returns (plan, commit result), or None when nothing changed and no commit is owed.

        A commit is owed from the moment the candidate config may differ until a commit succeeded (in the state
        file, so a crash or a failed commit between the two is committed by the next batch).
        """
        device = self.device()
        plan = panos_api.plan_address_objects(device, desired, prefix, owns, scope)
        if not plan.changed and not self._db.commit_pending(self.label):
            return None
        self._db.set_commit_pending(self.label, True)
        panos_api.apply_address_objects(device, plan)
        result = panos_api.commit(device, timeout=commit_timeout, description=(
            "netevents listener: %d address object(s) changed" % sum(plan.summary().values())))
        self._metrics.commits.inc(1 if result.get("jobid") else 0)
        if result.get("jobid") and result.get("result") != "OK":
            raise panos_api.PanosError("the commit on %s failed: %s" % (self.label, "; ".join(result["details"])))
        self._db.set_commit_pending(self.label, False)
        return plan, result
