# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the Prism Central v4 API adds to the one Prism client: versions, paging, OData, shapes and errors.

The transport (session, basic or API-key auth, TLS, retries, error texts) stays in prism.py; PrismV4 is handed
its ``send`` and never talks HTTP itself, so v3 and v4 share every connection rule. Facts and how sure each one
is: docs/prism-api.md.

- Versions: a Prism Central serves several v4 minor versions at once. ``OPTIONS /api/<ns>/unversioned/info``
  names the newest one (what the official SDKs ask, from v4.2 on); where it is missing each known version is
  probed, newest first. A namespace that answers none is "no v4" (an older Prism, or Prism Element).
- Paging: ``$page`` (from 0) and ``$limit`` (1-100); the list ends at a short page or at totalAvailableResults.
- Batched lookups use ``$filter=extId eq 'a' or extId eq 'b' ...``. Whether every Prism honours a filter on
  ``extId`` is not confirmed, so an answer is trusted only as far as it proves itself: a refused filter (400) or
  an answer holding anything not asked for switches that collection to one GET per entity, and an entity
  missing from a filtered answer is confirmed by its own GET before it is called unknown.
- ``$select`` keeps list answers small; a Prism that refuses it (400) is asked again without it.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
from urllib.parse import quote

from ansible_collections.netevents.nutanix.plugins.module_utils.addresses import firewall_ips
from ansible_collections.netevents.nutanix.plugins.module_utils.events import (
    VmState, _dict, _list, normalize_power_state)

# The v4 minor versions whose VM, category and cluster shapes this module reads, newest first.
KNOWN_VERSIONS = ("v4.3", "v4.2", "v4.1", "v4.0")
MAX_LIMIT = 100  # the largest $limit v4 accepts
LOOKUP_BATCH = 20  # extIds per filtered call: keeps the URL far below any proxy's limit
CACHE_SECONDS = 300.0  # categories and cluster names: user categories can be renamed, clusters rarely
VMS = ("vmm", "ahv/config/vms")
CATEGORIES = ("prism", "config/categories")
CLUSTERS = ("clustermgmt", "config/clusters")
# Only what VmState needs. nics carries the addresses under networkInfo (v4.0) or nicNetworkInfo (v4.1+).
VM_SELECT = "extId,name,powerState,nics,categories,cluster"
CATEGORY_SELECT = "extId,key,value"
CLUSTER_SELECT = "extId,name"
_VERSION = re.compile(r"^v(\d+)\.(\d+)$")


class V4Unsupported(Exception):
    """The Prism answered that it does not serve what was asked (a 400 for a $filter or $select)."""


# ---------------------------------------------------------------------- pure helpers

def odata_string(value):
    """An OData string literal: single quotes, a quote inside doubled."""
    return "'%s'" % str(value).replace("'", "''")


def ext_id_filter(ext_ids):
    """``extId eq 'a' or extId eq 'b'``: OData 4.01's ``in`` would be shorter but is less widely served."""
    return " or ".join("extId eq %s" % odata_string(e) for e in ext_ids)


def version_tuple(text):
    match = _VERSION.match(text.strip()) if isinstance(text, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def usable_version(server_newest):
    """The newest version we read that a Prism whose newest is *server_newest* serves; None if none."""
    newest = version_tuple(server_newest)
    if newest is None or newest[0] != 4:
        return None
    for version in KNOWN_VERSIONS:
        if version_tuple(version) <= newest:
            return version
    return None


def items(answer):
    """The entities of a v4 list answer (``data`` is absent, not [], when nothing matched)."""
    return [i for i in _list(_dict(answer).get("data")) if isinstance(i, dict)]


def total_results(answer):
    total = _dict(_dict(answer).get("metadata")).get("totalAvailableResults")
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def error_messages(body):
    """A v4 error body as the client's message list: [{"reason", "message", "details"}], or [] if it is none.

    v4 wraps errors as ``{"data": {"error": ..., "$objectType": "<ns>.v4.error.ErrorResponse"}}`` where error is
    a list of AppMessage (code, message, severity) or one SchemaValidationError (validationErrorMessages).
    """
    error = _dict(_dict(body).get("data")).get("error")
    messages = []
    for app in _list(error):
        app = _dict(app)
        if app.get("message") or app.get("code"):
            messages.append({"reason": app.get("code") or app.get("severity") or "ERROR",
                             "message": app.get("message") or "", "details": app.get("argumentsMap") or {}})
    schema = _dict(error)
    for item in _list(schema.get("validationErrorMessages")):
        item = _dict(item)
        where = item.get("attributePath") or item.get("location") or ""
        messages.append({"reason": schema.get("error") or "VALIDATION_ERROR",
                         "message": ("%s: %s" % (where, item.get("message") or "")).strip(": "), "details": {}})
    return messages


def nic_ips(nic):
    """Every address a v4 NIC reports: assigned (ipv4Config) and learned (ipv4Info, ipv6Info)."""
    nic = _dict(nic)
    # v4.1+ nicNetworkInfo supersedes the deprecated networkInfo when both are present (SDK model docs).
    info = _dict(nic.get("nicNetworkInfo")) or _dict(nic.get("networkInfo"))
    config = _dict(info.get("ipv4Config"))
    addresses = [config.get("ipAddress")] + _list(config.get("secondaryIpAddressList"))
    addresses += _list(_dict(info.get("ipv4Info")).get("learnedIpAddresses"))
    addresses += _list(_dict(info.get("ipv6Info")).get("learnedIpv6Addresses"))
    # The one address rule (addresses.py): what a firewall should not hold is left out, as from a v3 payload.
    ips, _dropped = firewall_ips(value for value in (_dict(address).get("value") for address in addresses)
                                 if value is not None)
    return ips


def vm_state_from_v4(vm, categories, clusters):
    """A VmState from a v4 VM. categories: {extId: (key, value)}; clusters: {extId: name}.

    A category reference that did not resolve is left out. VmState keeps one value per key (as v3's
    ``metadata.categories`` does); a VM with several values of one key keeps the smallest, so every run agrees.
    """
    vm = _dict(vm)
    ips = []
    for nic in _list(vm.get("nics")):
        ips.extend(ip for ip in nic_ips(nic) if ip not in ips)
    pairs = sorted(categories[ref["extId"]] for ref in _list(vm.get("categories"))
                   if isinstance(ref, dict) and categories.get(ref.get("extId")))
    cats = {}
    for key, value in pairs:
        cats.setdefault(key, value)
    cluster = _dict(vm.get("cluster")).get("extId")
    name = vm.get("name")
    return VmState(uuid=vm.get("extId"), name=name if isinstance(name, str) else None,
                   power_state=normalize_power_state(vm.get("powerState")), ips=ips, categories=cats,
                   cluster_uuid=cluster if isinstance(cluster, str) else None,
                   cluster_name=clusters.get(cluster) if isinstance(cluster, str) else None)


def _chunks(values, size):
    values = list(values)
    return [values[i:i + size] for i in range(0, len(values), size)]


def _unique(values):
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


# ---------------------------------------------------------------------- the v4 layer of PrismClient

class PrismV4(object):
    """The v4 calls of one PrismClient.

    send(method, path, params=None) sends one call on the client's session (path from the host root, e.g.
    ``/api/vmm/v4.3/ahv/config/vms``) and returns the decoded JSON, raising *error* (PrismError: status_code
    when Prism answered, http_status whatever answered) on failure; *where* names the Prism in messages. Discovered versions and what the Prism
    refuses are remembered for the client's life.
    """

    def __init__(self, send, error, where="Prism", clock=time.monotonic):
        self._send = send
        self._error = error
        self._where = where
        self._clock = clock
        self._versions = {}  # namespace -> version string, or None when the Prism serves no v4 there
        self._select = True  # False once the Prism refused $select
        self._filter = {}  # collection -> False once the Prism refused or ignored an extId filter
        self._cache = {CATEGORIES: {}, CLUSTERS: {}}  # extId -> (value or None, expiry)

    # -------------------------------------------------------------- versions
    def version(self, namespace="vmm"):
        """The v4 version used for *namespace*, or None if this Prism serves no v4 version we read there."""
        if namespace not in self._versions:
            self._versions[namespace] = self._discover(namespace)
        return self._versions[namespace]

    def _discover(self, namespace):
        try:
            info = self._send("OPTIONS", "/api/%s/unversioned/info" % namespace)
        except self._error as e:
            if e.http_status in (None, 401, 403):  # unreachable or refused: no probe would fare better
                raise
        else:
            version = usable_version(_dict(info).get("data"))
            if version:
                return version
        probe = dict((VMS, CATEGORIES, CLUSTERS))[namespace]
        for version in KNOWN_VERSIONS:
            try:
                self._send("GET", "/api/%s/%s/%s" % (namespace, version, probe), {"$limit": 1})
            except self._error as e:
                if e.http_status == 404:  # whoever answered it: nothing is served there
                    continue
                raise
            return version
        return None

    def _path(self, collection, ext_id=None):
        namespace, resource = collection
        version = self.version(namespace)
        if version is None:
            raise self._error("%s serves no v4 %s API (looked for %s)" % (
                self._where, namespace, ", ".join(reversed(KNOWN_VERSIONS))))
        path = "/api/%s/%s/%s" % (namespace, version, resource)
        return path + "/" + quote(ext_id, safe="") if ext_id is not None else path

    # -------------------------------------------------------------- generic reads
    def entities(self, collection, filter=None, select=None):
        """Every entity of *collection* ((namespace, resource)) matching *filter*, page by page."""
        page = 0
        seen = 0
        while True:
            answer = self._page(collection, page, MAX_LIMIT, filter, select)
            batch = items(answer)
            yield from batch
            seen += len(batch)
            total = total_results(answer)
            if len(batch) < MAX_LIMIT or (total is not None and seen >= total):
                return
            page += 1

    def _page(self, collection, page, limit, filter=None, select=None):
        """One list page. Raises V4Unsupported when the Prism refuses the filter."""
        path = self._path(collection)
        params = {"$page": page, "$limit": limit}
        if filter:
            params["$filter"] = filter
        if select and self._select:
            try:
                return self._send("GET", path, dict(params, **{"$select": select}))
            except self._error as e:
                if e.status_code != 400:
                    raise
        try:
            answer = self._send("GET", path, params)
        except self._error as e:
            if e.status_code == 400 and filter:
                raise V4Unsupported(str(e))
            raise
        if select and self._select:
            self._select = False  # only $select was refused: leave it out from now on
        return answer

    def get(self, collection, ext_id):
        """One entity by extId, or None when Prism does not know it (404)."""
        try:
            answer = self._send("GET", self._path(collection, ext_id))
        except self._error as e:
            if e.status_code == 404:
                return None
            raise
        data = _dict(answer).get("data")
        return data if isinstance(data, dict) else None

    def lookup(self, collection, ext_ids, select=None):
        """{extId: entity or None} for *ext_ids*, in as few calls as this Prism allows (see the module doc)."""
        wanted = _unique(e for e in ext_ids if isinstance(e, str) and e)
        found = {}
        for chunk in _chunks(wanted, LOOKUP_BATCH):
            if self._filter.get(collection, True):
                try:
                    # One page only: a Prism that ignored the filter must not make us read every entity.
                    answer = items(self._page(collection, 0, len(chunk), ext_id_filter(chunk), select))
                except V4Unsupported:
                    answer = None
                if answer is not None and all(e.get("extId") in chunk for e in answer):
                    found.update((e["extId"], e) for e in answer)
                else:
                    self._filter[collection] = False  # refused, or ignored: one GET per entity from now on
            for ext_id in chunk:
                if ext_id not in found:
                    found[ext_id] = self.get(collection, ext_id)
        return found

    # -------------------------------------------------------------- categories and clusters (cached)
    def categories(self, ext_ids):
        """{extId: (key, value)} for the category references given; unknown ones are left out."""
        def fetch(missing):
            pairs = {}
            for ext_id, category in self.lookup(CATEGORIES, missing, select=CATEGORY_SELECT).items():
                key, value = _dict(category).get("key"), _dict(category).get("value")
                pairs[ext_id] = (key, value) if isinstance(key, str) and isinstance(value, str) else None
            return pairs
        return self._cached(CATEGORIES, ext_ids, fetch)

    def cluster_names(self, ext_ids):
        """{extId: name} for the clusters given. A Prism Central has few clusters: one list reads them all."""
        def fetch(missing):
            names = dict((c.get("extId"), c.get("name")) for c in self.entities(CLUSTERS, select=CLUSTER_SELECT)
                         if isinstance(c.get("name"), str))
            return dict((e, names.get(e)) for e in set(missing) | set(names))
        return self._cached(CLUSTERS, ext_ids, fetch)

    def _cached(self, kind, ext_ids, fetch):
        cache = self._cache[kind]
        now = self._clock()
        wanted = set(e for e in ext_ids if isinstance(e, str))
        missing = sorted(e for e in wanted if e not in cache or cache[e][1] <= now)
        if missing:
            expiry = now + CACHE_SECONDS
            cache.update((e, (value, expiry)) for e, value in fetch(missing).items())
        return dict((e, cache[e][0]) for e in wanted if e in cache and cache[e][0] is not None)

    # -------------------------------------------------------------- VMs as VmState
    def vm_states(self):
        """Every VM as a VmState (paged by 100)."""
        return self._states(list(self.entities(VMS, select=VM_SELECT)))

    def vm_states_for(self, uuids):
        """{uuid: VmState, or None when Prism does not know the VM} for *uuids*, batched (see lookup)."""
        found = self.lookup(VMS, uuids, select=VM_SELECT)
        states = dict((s.uuid, s) for s in self._states([vm for vm in found.values() if vm]))
        return dict((u, states.get(u)) for u in found)

    def _states(self, vms):
        categories = self.categories(ref.get("extId") for vm in vms for ref in _list(vm.get("categories"))
                                     if isinstance(ref, dict))
        clusters = self.cluster_names(_dict(vm.get("cluster")).get("extId") for vm in vms)
        return [vm_state_from_v4(vm, categories, clusters) for vm in vms]
