# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One firewall of the panos plugin: its connection, what the plugin registered on it, and how a change set or a
reconcile reaches it in the configured mode — all through the collection's one PAN-OS client
(module_utils/panos.py). Every method that talks to the firewall may raise PanosError."""
import collections
import logging

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api
from ansible_collections.netevents.nutanix.plugins.module_utils.reconcile import reconcile_device
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import desired_ip_tags, sanitize

from ...api import Secret, register_secret
from .state import Memory, union

log = logging.getLogger("netevents_listener.plugin.panos")


class Target(object):
    """options -- the target's checked options; settings -- the plugin's; mapper -- the plugin's TagMapper."""

    def __init__(self, options, settings, mapper, db, metrics):
        self.label = "%s:%d/%s" % (options["ip_address"], options["port"], options["vsys"])
        self._vsys = options["vsys"]
        self._provider = dict((k, v.reveal() if isinstance(v, Secret) else v) for k, v in options.items()
                              if k != "vsys" and v is not None)
        self._settings = settings
        self._mapper = mapper
        self._db = db
        self._metrics = metrics
        self._device = None
        self.memory = Memory(db.load(self.label))

    def device(self):
        """The connection, made on first use and kept until forget()."""
        if self._device is None:
            device = panos_api.connect(self._provider, vsys=self._vsys, timeout=self._settings["api_timeout"])
            # The key keygen made from the password is as secret as the password: mask it in logs too.
            register_secret(getattr(panos_api.pan_device(device), "api_key", None))
            self._device = device
        return self._device

    def forget(self):
        """After a failure: the next call connects again."""
        self._device = None

    # -- a batch --
    def apply(self, wanted, hints):
        """Make the firewall hold *wanted* ({uuid: Record or None}) for these VMs, then remember it.

        hints -- {uuid: Record or None}: what a payload says a VM had, unregistered too should the memory lack it.
        """
        affected = set()
        for uuid, record in wanted.items():
            for source in (self.memory.vms.get(uuid), record, hints.get(uuid)):
                affected.update(source.ips if source else ())
        before, after = {}, {}
        for ip in affected:
            holders = self.memory.holders(ip)
            before[ip] = union(holders.values())
            for uuid, hint in hints.items():
                if hint is not None and ip in hint.ips and uuid not in holders:
                    before[ip] |= hint.tags
            after[ip] = self.memory.holders(ip, wanted)
        if self._settings["mode"] == "registered-ip":
            self._register(before, after)
        else:
            self._sync_objects(after, scope=affected)
        self._remember(wanted)

    def _register(self, before, after):
        # Every tag of the batch's addresses is registered again (which heals a firewall that lost them), what no
        # VM holds any more unregistered: ONE User-ID call.
        desired = dict((ip, union(holders.values())) for ip, holders in after.items())
        plan = panos_api.plan_registered_ips(desired, before, refresh=True)
        if plan.changed:
            calls = panos_api.apply_registered_ips(self.device(), register=plan.register, unregister=plan.unregister,
                                                   timeout=self._settings["tag_timeout"] or None)
            self._metrics.userid_calls.inc(calls)
            log.info("registered IPs updated", extra={"target": self.label, "userid_calls": calls,
                                                      "registered_ips": len(plan.register),
                                                      "unregistered_ips": len(plan.unregister)})

    def _sync_objects(self, after, scope):
        """The objects named address_prefix + IP made to match *after* ({ip: {uuid: Record}}), then ONE commit.

        Returns whether it committed. A commit is owed from the moment the candidate config may differ until a
        commit succeeded (in the state file, so a crash or a failed commit between the two is made up next time).
        """
        desired = dict((ip, (union(holders.values()), _description(holders))) for ip, holders in after.items())
        device = self.device()
        plan = panos_api.plan_address_objects(device, desired, self._settings["address_prefix"], self._mapper.owns,
                                              scope)
        counts = {"objects_created": len(plan.create), "objects_updated": len(plan.edit),
                  "objects_deleted": len(plan.delete)}
        if not any(counts.values()) and not self._db.commit_pending(self.label):
            return False
        self._db.set_commit_pending(self.label, True)
        panos_api.apply_address_objects(device, plan)
        result = panos_api.commit(device, timeout=self._settings["commit_timeout"], description=(
            "netevents listener: %d address object(s) changed" % sum(counts.values())))
        self._metrics.commits.inc(1 if result.get("jobid") else 0)
        if result.get("jobid") and result.get("result") != "OK":
            raise panos_api.PanosError("the commit on %s failed: %s" % (self.label, "; ".join(result["details"])))
        self._db.set_commit_pending(self.label, False)
        log.info("address objects committed", extra=dict(counts, target=self.label, jobid=result.get("jobid")))
        return True

    # -- a reconcile --
    def reconcile(self, vms, records):
        """Make the firewall hold exactly *records* ({uuid: Record}, from every VM state in *vms*), owned tags only;
        then the memory is *records*. Returns a summary for the log."""
        if self._settings["mode"] == "registered-ip":
            plan, _current, calls = reconcile_device(self.device(), desired_ip_tags(vms, self._mapper), self._mapper,
                                                     timeout=self._settings["tag_timeout"] or None)
            self._metrics.userid_calls.inc(calls)
            summary = plan.summary()
        else:
            after = collections.defaultdict(dict)
            for uuid, record in records.items():
                for ip in record.ips:
                    after[ip][uuid] = record
            summary = {"committed": self._sync_objects(after, scope=None)}
        self._remember(records, replace=True)
        return summary

    def _remember(self, records, replace=False):
        self._db.save(self.label, records, replace=replace)
        if replace:
            self.memory = Memory(records)
        for uuid, record in () if replace else records.items():
            self.memory.set(uuid, record)


def _description(holders):
    vms = ", ".join("%s (%s)" % (sanitize(r.name or "?")[:63], uuid) for uuid, r in sorted(holders.items()))
    return ("Nutanix VM %s, managed by the netevents listener" % vms)[:1023]
