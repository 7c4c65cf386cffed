"""Prism Central v4 for the Prism simulator: VMs, categories and clusters, read from the same store as v3.

Served on the simulator's Flask app at the versioned paths a current Prism Central serves at once
(``/api/vmm/v4.0`` ... ``/api/vmm/v4.3`` and the same for ``prism`` and ``clustermgmt``), so a change made
through v3 is what v4 shows. What it answers, and why (sources and certainty in docs/prism-api.md):

- ``GET /api/vmm/<v>/ahv/config/vms`` (paged: ``$page`` from 0, ``$limit`` 1-100, default 50; ``$filter``;
  ``$select``) and ``GET .../vms/{extId}``; v4.0 NICs carry ``networkInfo``/``backingInfo``, v4.1+ the
  ``nicNetworkInfo``/``nicBackingInfo`` that replaced them (typed with ``$objectType``, as the SDKs read).
- ``GET /api/prism/<v>/config/categories[/{extId}]``: every category pair a VM was ever given, with a stable
  extId; a VM refers to its categories by extId only.
- ``GET /api/clustermgmt/<v>/config/clusters[/{extId}]``: the simulator's clusters and, as on a real Prism
  Central, the entry for itself (``config.clusterFunction`` ``PRISM_CENTRAL`` rather than ``AOS``).
- ``OPTIONS /api/<ns>/unversioned/info``: the newest version served, where that is v4.2 or later (what the SDKs
  negotiate with).
- Errors as ``{"data": {"error": [AppMessage...] | SchemaValidationError}}``; a 401 for bad or missing
  credentials (basic auth, or the ``X-ntnx-api-key`` header when the simulator has an API key: app.authorized).

``$filter`` is a small real OData parser of the subset clients use: ``eq``/``ne``, ``in (...)``, ``and``/``or``/
``not``, parentheses, ``startswith``/``contains``, string, number, boolean and enum literals
(``Vmm.Ahv.Config.PowerState'ON'``), on the fields each collection lists as filterable; anything else is a 400.
"""
import re
import uuid as uuidlib

from flask import Blueprint, abort, g, jsonify, request

from tests.simulators.prism.app import authorized

ALL_VERSIONS = ("v4.0", "v4.1", "v4.2", "v4.3")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
_NAMESPACE_IDS = uuidlib.UUID("6e7e4c0a-4d9c-4a43-9a0e-5d2f0b1c4a11")  # extIds of categories: stable per pair
EXT_ID_FILTER_MODES = ("honour", "refuse", "ignore")


def category_ext_id(key, value):
    return str(uuidlib.uuid5(_NAMESPACE_IDS, "category:%s=%s" % (key, value)))


def _reserved(version):
    return {"$fv": "v4.r%s" % version.split(".")[1]}


class V4Error(Exception):
    """Rendered as a v4 ErrorResponse inside the operation's ApiResponse."""

    def __init__(self, status, code, message, validation=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.validation = validation  # [(attributePath, message)] for a SchemaValidationError


# ---------------------------------------------------------------------- OData $filter (a subset)
_TOKEN = re.compile(r"""\s*(?:
    (?P<enum>[A-Za-z][\w.]*'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_$][\w$]*(?:/[A-Za-z_$][\w$]*)*)
  | (?P<punct>[(),])
)""", re.VERBOSE)
_KEYWORDS = ("and", "or", "not", "eq", "ne", "in", "true", "false", "null")


class ODataError(ValueError):
    pass


def _tokens(text):
    pos = 0
    out = []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise ODataError("unexpected character at position %d: %r" % (pos, text[pos:pos + 10]))
        kind = match.lastgroup
        value = match.group(kind)
        if (kind == "name" and value in _KEYWORDS) or kind == "punct":
            kind = value
        out.append((kind, value))
        pos = match.end()
    return out


class ODataFilter(object):
    """A parsed $filter: ``matches(entity)``. *fields*: {path: enum type name or None} that may be filtered on."""

    def __init__(self, text, fields):
        self.fields = fields
        self._tokens = _tokens(text)
        self._pos = 0
        if not self._tokens:
            raise ODataError("the filter is empty")
        self._tree = self._or()
        if self._pos != len(self._tokens):
            raise ODataError("unexpected %r" % (self._tokens[self._pos][1],))

    # recursive descent: or > and > not > comparison
    def _peek(self):
        return self._tokens[self._pos][0] if self._pos < len(self._tokens) else None

    def _take(self, kind=None):
        if self._pos >= len(self._tokens):
            raise ODataError("the filter ends early")
        token = self._tokens[self._pos]
        if kind and token[0] != kind:
            raise ODataError("expected %s, found %r" % (kind, token[1]))
        self._pos += 1
        return token

    def _or(self):
        node = self._and()
        while self._peek() == "or":
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self):
        node = self._not()
        while self._peek() == "and":
            self._take()
            node = ("and", node, self._not())
        return node

    def _not(self):
        if self._peek() == "not":
            self._take()
            return ("not", self._not())
        if self._peek() == "(":
            self._take("(")
            node = self._or()
            self._take(")")
            return node
        return self._comparison()

    def _field(self):
        path = self._take("name")[1]
        if path not in self.fields:
            raise ODataError("%r is not a filterable property here (filterable: %s)"
                             % (path, ", ".join(sorted(self.fields))))
        return path

    def _comparison(self):
        if self._peek() == "name" and self._pos + 1 < len(self._tokens) and self._tokens[self._pos + 1][0] == "(":
            function = self._take("name")[1]
            if function not in ("startswith", "contains"):
                raise ODataError("function %r is not supported" % (function,))
            self._take("(")
            path = self._field()
            self._take(",")
            literal = self._literal(path)
            self._take(")")
            return (function, path, literal)
        path = self._field()
        op = self._take()[0]
        if op in ("eq", "ne"):
            return (op, path, self._literal(path))
        if op == "in":
            self._take("(")
            values = [self._literal(path)]
            while self._peek() == ",":
                self._take(",")
                values.append(self._literal(path))
            self._take(")")
            return ("in", path, values)
        raise ODataError("expected eq, ne or in after %r" % (path,))

    def _literal(self, path):
        kind, text = self._take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "enum":
            type_name, quoted = text.split("'", 1)
            expected = self.fields[path]
            if expected is None or type_name != expected:
                raise ODataError("%s is not of type %s" % (path, type_name))
            return quoted[:-1].replace("''", "'")
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "null":
            return None
        raise ODataError("expected a value, found %r" % (text,))

    def matches(self, entity):
        return self._eval(self._tree, entity)

    def _eval(self, node, entity):
        op = node[0]
        if op == "or":
            return self._eval(node[1], entity) or self._eval(node[2], entity)
        if op == "and":
            return self._eval(node[1], entity) and self._eval(node[2], entity)
        if op == "not":
            return not self._eval(node[1], entity)
        value = _resolve(entity, node[1])
        if op == "eq":
            return value == node[2]
        if op == "ne":
            return value != node[2]
        if op == "in":
            return value in node[2]
        if not isinstance(value, str):
            return False
        return value.startswith(node[2]) if op == "startswith" else node[2] in value

    def mentions(self, path):
        return any(kind == "name" and value == path for kind, value in self._tokens)

    def only_values(self, path):
        """The values when the filter is nothing but ``path eq 'x'`` (or ``path in (...)``) terms joined by ``or``;
        None otherwise."""
        def walk(node):
            if node[0] == "or":
                left, right = walk(node[1]), walk(node[2])
                return None if left is None or right is None else left | right
            if node[0] == "eq" and node[1] == path:
                return {node[2]}
            if node[0] == "in" and node[1] == path:
                return set(node[2])
            return None
        return walk(self._tree)


def _resolve(entity, path):
    for part in path.split("/"):
        entity = entity.get(part) if isinstance(entity, dict) else None
    return entity


# ---------------------------------------------------------------------- the v4 routes
class PrismV4(object):
    """The v4 side of one PrismSimulator (it reads ``sim.vms`` under ``sim._lock``).

    versions: the v4 versions served (empty: a Prism with no v4, every v4 path a 404).
    ext_id_filter: how a $filter naming extId is treated — ``honour``, ``refuse`` (400, as a Prism that does not
    index it would) or ``ignore`` (answered unfiltered).
    """

    def __init__(self, sim, versions=ALL_VERSIONS, ext_id_filter="honour"):
        if ext_id_filter not in EXT_ID_FILTER_MODES:
            raise ValueError("ext_id_filter must be one of %s" % (EXT_ID_FILTER_MODES,))
        unknown = set(versions) - set(ALL_VERSIONS)
        if unknown:
            raise ValueError("unknown v4 versions %s" % sorted(unknown))
        self.sim = sim
        self.versions = tuple(v for v in ALL_VERSIONS if v in versions)
        self.ext_id_filter = ext_id_filter
        self.categories = {}  # extId -> {"key", "value"}: every pair ever seen on a VM (Prism keeps categories)
        self.collections = {
            "vms": Collection("vmm", "ahv/config/vms", "vmm.v4.ahv.config", "Vm", "Vms",
                              records=self._vm_records, render=self._vm, find=self._vm_record,
                              filterable={"extId": None, "name": None, "powerState": "Vmm.Ahv.Config.PowerState",
                                          "cluster/extId": None, "host/extId": None}, not_found="VMM-20005"),
            "categories": Collection("prism", "config/categories", "prism.v4.config", "Category", "Categories",
                                     records=self._category_records, render=self._category,
                                     filterable={"extId": None, "key": None, "value": None,
                                                 "type": "Prism.Config.CategoryType"}, not_found="PRISM-50017"),
            "clusters": Collection("clustermgmt", "config/clusters", "clustermgmt.v4.config", "Cluster", "Clusters",
                                   records=self._cluster_records, render=self._cluster,
                                   find=lambda ext_id: self.sim.cluster_entities().get(ext_id),
                                   filterable={"extId": None, "name": None}, not_found="CLU-10005"),
        }

    # -------------------------------------------------------------- wiring
    def register(self, app):
        """Add the v4 routes to the simulator's app (before it serves its first request)."""
        if not self.versions:
            return
        blueprint = Blueprint("prism_v4", __name__)
        blueprint.register_error_handler(V4Error, self._error_response)

        def route(rule, endpoint, view, response_type=None, methods=("GET",)):
            def wrapped(**kwargs):
                if kwargs.get("version", self.versions[0]) not in self.versions:
                    abort(404)  # a version this Prism does not serve is as unknown as any other path
                g.v4_response_type = response_type  # errors are wrapped in the operation's response type
                self._authenticate()
                with self.sim._lock:
                    return view(**kwargs)
            blueprint.add_url_rule(rule, endpoint=endpoint, view_func=wrapped, methods=list(methods))

        for name, collection in self.collections.items():
            base = "/api/%s/<version>/%s" % (collection.namespace, collection.resource)
            route(base, "list_" + name, lambda version, c=collection: self._list(c, version),
                  collection.response_type("List", plural=True))
            route(base + "/<ext_id>", "get_" + name, lambda version, ext_id, c=collection: self._get(
                c, version, ext_id), collection.response_type("Get"))
        route("/api/<ns>/unversioned/info", "info", self._info, methods=("OPTIONS",))
        app.register_blueprint(blueprint)

    def _authenticate(self):
        if not authorized(self.sim):
            raise V4Error(401, "AUTH-401", "Authentication required.")

    # -------------------------------------------------------------- handlers
    def _info(self, ns):
        newest = self.versions[-1]
        if ns not in ("vmm", "prism", "clustermgmt") or newest < "v4.2":
            abort(404)  # older Prism Centrals have no version negotiation
        return jsonify({"data": newest, "$objectType": "string"})

    def _list(self, collection, version):
        args = request.args
        served = ("$page", "$limit", "$filter", "$select")
        unsupported = sorted(k for k in args if k.startswith("$") and k not in served)
        if unsupported:
            raise _invalid(unsupported[0], "query parameter %s is not supported" % unsupported[0])
        page = _int_arg("$page", 0, minimum=0)
        limit = _int_arg("$limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        records = collection.records()
        text = args.get("$filter")
        odata = None
        if text is not None:
            try:
                odata = ODataFilter(text, collection.filterable)
            except ODataError as e:
                raise _invalid("$filter", "Invalid filter %r: %s" % (text, e))
            if odata.mentions("extId") and self.ext_id_filter == "refuse":
                raise _invalid("$filter", "extId is not a filterable property here")
            if odata.mentions("extId") and self.ext_id_filter == "ignore":
                odata = None
        select = _select(args.get("$select"))
        if odata is None:  # render only the page asked for: lists of 10,000 VMs stay cheap
            total = len(records)
            chunk = [collection.render(r, version) for r in records[page * limit:(page + 1) * limit]]
        else:
            ids = odata.only_values("extId") if collection is self.collections["vms"] else None
            if ids is not None:
                # A lookup by ids (what a client batching its lookups sends): render only the records those ids
                # find, in list order, instead of every record - the same answer, and 10,000 VMs stay cheap. (VMs
                # only: their records are the stored objects themselves, so find() gives the very records listed.)
                found = set(id(r) for r in (collection.find(i) for i in ids if isinstance(i, str)) if r is not None)
                records = [r for r in records if id(r) in found]
            matching = [e for e in (collection.render(r, version) for r in records) if odata.matches(e)]
            total = len(matching)
            chunk = matching[page * limit:(page + 1) * limit]
        chunk = [select(e) for e in chunk]
        body = {"metadata": self._list_metadata(version, page, limit, total),
                "$objectType": collection.response_type("List", plural=True), "$reserved": _reserved(version)}
        if chunk:  # an empty result has no data at all
            body["data"] = chunk
        return jsonify(body)

    def _get(self, collection, version, ext_id):
        record = collection.find(ext_id)
        if record is None:
            raise V4Error(404, collection.not_found,
                          "Failed to perform the operation as the backend service could not find the entity.")
        entity = collection.render(record, version)
        response = jsonify({"data": entity, "metadata": {
            "flags": _flags(paginated=False), "links": [_link(request.base_url, "self")],
            "$objectType": "common.v1.response.ApiResponseMetadata", "$reserved": {"$fv": "v1.r0"}},
            "$objectType": collection.response_type("Get"), "$reserved": _reserved(version)})
        response.headers["ETag"] = 'W/"%s"' % uuidlib.uuid5(_NAMESPACE_IDS, repr(sorted(entity.items())))
        return response

    def _list_metadata(self, version, page, limit, total):
        def link(rel, number):
            return _link("%s?$page=%d&$limit=%d" % (request.base_url, number, limit), rel)
        last = max(0, (total - 1) // limit)
        links = [link("self", page), link("first", 0), link("last", last)]
        if page > 0:
            links.append(link("prev", page - 1))
        if page < last:
            links.append(link("next", page + 1))
        return {"flags": _flags(paginated=True), "links": links, "totalAvailableResults": total,
                "$objectType": "common.v1.response.ApiResponseMetadata", "$reserved": {"$fv": "v1.r0"}}

    @staticmethod
    def _error_response(exc):
        parts = request.path.split("/")  # /api/<namespace>/<version>/...
        namespace, version = parts[2], parts[3] if parts[3] in ALL_VERSIONS else "v4.0"
        if exc.validation:
            error = {"timestamp": "1970-01-01T00:00:00Z", "statusCode": exc.status, "error": "Bad Request",
                     "path": request.path, "validationErrorMessages": [
                         {"location": "query", "attributePath": path, "message": message,
                          "$objectType": "%s.v4.error.SchemaValidationErrorMessage" % namespace,
                          "$reserved": _reserved(version)}
                         for path, message in exc.validation],
                     "$objectType": "%s.v4.error.SchemaValidationError" % namespace, "$reserved": _reserved(version)}
        else:
            error = [{"message": exc.message, "severity": "ERROR", "code": exc.code, "locale": "en_US",
                      "$objectType": "%s.v4.error.AppMessage" % namespace, "$reserved": _reserved(version)}]
        body = {"data": {"error": error, "$objectType": "%s.v4.error.ErrorResponse" % namespace,
                         "$reserved": _reserved(version)}, "$reserved": _reserved(version)}
        if g.get("v4_response_type"):
            body["$objectType"] = g.v4_response_type
        response = jsonify(body)
        response.status_code = exc.status
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="Nutanix API"'
        return response

    # -------------------------------------------------------------- rendering from the v3 store
    def _vm_records(self):
        # v4 shows what is, not what was asked: a VM whose creation has not completed is not there yet.
        return [vm for vm in self.sim.vms.values() if (vm.get("status") or {}).get("resources")]

    def _vm_record(self, ext_id):
        vm = self.sim.vms.get(ext_id)
        return vm if vm is not None and (vm.get("status") or {}).get("resources") else None

    def _vm(self, vm, version):
        meta, spec, status = vm["metadata"], vm["spec"], vm["status"]
        res = status["resources"]
        cluster = status.get("cluster_reference") or spec.get("cluster_reference") or {}
        categories = meta.get("categories") or {}
        for key, value in categories.items():
            self.categories.setdefault(category_ext_id(key, value), {"key": key, "value": value})
        out = {
            "extId": meta["uuid"],
            "name": status.get("name") or spec.get("name"),
            "createTime": meta.get("creation_time"),
            "updateTime": meta.get("last_update_time"),
            "powerState": res.get("power_state", "OFF"),
            "cluster": _ref("vmm.v4.ahv.config.ClusterReference", cluster.get("uuid"), version),
            "categories": [_ref("vmm.v4.ahv.config.CategoryReference", category_ext_id(k, v), version)
                           for k, v in sorted(categories.items())],
            "nics": [self._nic(nic, version) for nic in res.get("nic_list", [])],
            "numSockets": 1, "numCoresPerSocket": 1, "memorySizeBytes": res.get("memory_size_mib", 1024) << 20,
            "$objectType": "vmm.v4.ahv.config.Vm", "$reserved": _reserved(version),
        }
        if spec.get("description") is not None:
            out["description"] = spec["description"]
        if res.get("host_reference"):
            out["host"] = _ref("vmm.v4.ahv.config.HostReference", res["host_reference"]["uuid"], version)
        return out

    @staticmethod
    def _nic(nic, version):
        ipv4, ipv6 = [], []
        for endpoint in nic.get("ip_endpoint_list", []):
            (ipv6 if ":" in endpoint["ip"] else ipv4).append(endpoint)
        assigned = [e["ip"] for e in ipv4 if e.get("type", "ASSIGNED") == "ASSIGNED"]
        learned = [e["ip"] for e in ipv4 if e.get("type") == "LEARNED"]
        network = {"nicType": nic.get("nic_type", "NORMAL_NIC"),
                   "subnet": _ref("vmm.v4.ahv.config.SubnetReference",
                                  (nic.get("subnet_reference") or {}).get("uuid"), version),
                   "vlanMode": "ACCESS", "shouldAllowUnknownMacs": False,
                   "ipv4Config": {"shouldAssignIp": bool(assigned), "$objectType": "vmm.v4.ahv.config.Ipv4Config",
                                  "$reserved": _reserved(version)},
                   "ipv4Info": {"learnedIpAddresses": [_address(ip, 4) for ip in learned],
                                "$objectType": "vmm.v4.ahv.config.Ipv4Info", "$reserved": _reserved(version)}}
        if assigned:
            network["ipv4Config"]["ipAddress"] = _address(assigned[0], 4)
            if assigned[1:]:
                network["ipv4Config"]["secondaryIpAddressList"] = [_address(ip, 4) for ip in assigned[1:]]
        backing = {"macAddress": nic.get("mac_address"), "isConnected": nic.get("is_connected", True),
                   "model": "VIRTIO", "numQueues": 1, "$reserved": _reserved(version)}
        out = {"extId": nic.get("uuid"), "$objectType": "vmm.v4.ahv.config.Nic", "$reserved": _reserved(version)}
        if version == "v4.0":
            out["backingInfo"] = dict(backing, **{"$objectType": "vmm.v4.ahv.config.EmulatedNic"})
            out["networkInfo"] = dict(network, **{"$objectType": "vmm.v4.ahv.config.NicNetworkInfo"})
        else:
            # v4.1 replaced both with typed one-ofs (the SDK picks the class from $objectType).
            out["nicBackingInfo"] = dict(backing, **{"$objectType": "vmm.v4.ahv.config.VirtualEthernetNic"})
            network["ipv6Info"] = {"learnedIpv6Addresses": [_address(e["ip"], 6) for e in ipv6],
                                   "$objectType": "vmm.v4.ahv.config.Ipv6Info", "$reserved": _reserved(version)}
            out["nicNetworkInfo"] = dict(network, **{
                "$objectType": "vmm.v4.ahv.config.VirtualEthernetNicNetworkInfo"})
        return out

    def _category_records(self):
        for vm in self.sim.vms.values():
            for key, value in (vm["metadata"].get("categories") or {}).items():
                self.categories.setdefault(category_ext_id(key, value), {"key": key, "value": value})
        return sorted(self.categories.items(), key=lambda item: (item[1]["key"], item[1]["value"]))

    def _category(self, record, version):
        ext_id, category = record
        return {"extId": ext_id, "key": category["key"], "value": category["value"], "type": "USER",
                "description": "", "ownerUuid": self.sim.user_uuid, "$objectType": "prism.v4.config.Category",
                "$reserved": _reserved(version)}

    def _cluster_records(self):
        return list(self.sim.cluster_entities().values())

    @staticmethod
    def _cluster(entity, version):
        function = entity["status"]["resources"]["config"]["service_list"]
        return {"extId": entity["metadata"]["uuid"], "name": entity["status"]["name"],
                "config": {"clusterFunction": function, "$objectType": "clustermgmt.v4.config.ClusterConfigReference",
                           "$reserved": _reserved(version)},
                "$objectType": "clustermgmt.v4.config.Cluster", "$reserved": _reserved(version)}


class Collection(object):
    """One v4 collection: where it is served, its records and how one renders, what filters on it."""

    def __init__(self, namespace, resource, package, object_name, plural, records, render, filterable, not_found,
                 find=None):
        self.namespace = namespace
        self.resource = resource
        self.package = package
        self.object_name = object_name
        self.plural = plural
        self.records = records
        self.render = render
        self.filterable = filterable
        self.not_found = not_found
        self._find = find

    def find(self, ext_id):
        if self._find is not None:
            return self._find(ext_id)
        return next((r for r in self.records() if r[0] == ext_id), None)

    @property
    def object_type(self):
        return "%s.%s" % (self.package, self.object_name)

    def response_type(self, operation, plural=False):
        return "%s.%s%sApiResponse" % (self.package, operation, self.plural if plural else self.object_name)


def _ref(object_type, ext_id, version):
    return {"extId": ext_id, "$objectType": object_type, "$reserved": _reserved(version)}


def _address(ip, family):
    return {"value": ip, "prefixLength": 32 if family == 4 else 128,
            "$objectType": "common.v1.config.IPv%dAddress" % family, "$reserved": {"$fv": "v1.r0"}}


def _flags(paginated):
    return [{"name": "hasError", "value": False, "$objectType": "common.v1.config.Flag", "$reserved": {"$fv": "v1.r0"}},
            {"name": "isPaginated", "value": paginated, "$objectType": "common.v1.config.Flag",
             "$reserved": {"$fv": "v1.r0"}}]


def _link(href, rel):
    return {"href": href, "rel": rel, "$objectType": "common.v1.response.ApiLink", "$reserved": {"$fv": "v1.r0"}}


def _invalid(path, message):
    return V4Error(400, "VALIDATION", message, validation=[(path, message)])


def _int_arg(name, default, minimum, maximum=None):
    text = request.args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _invalid(name, "%s must be an integer, not %r" % (name, text))
    if value < minimum or (maximum is not None and value > maximum):
        raise _invalid(name, "%s must be between %d and %s" % (name, minimum, maximum if maximum else "any"))
    return value


def _select(text):
    """A projection for $select: top-level properties ($objectType and $reserved always stay)."""
    if text is None:
        return lambda e: e
    names = [n.strip() for n in text.split(",")]
    bad = [n for n in names if not re.match(r"^(\*|[A-Za-z][A-Za-z0-9]*)$", n)]
    if bad:
        raise _invalid("$select", "%r is not a property name" % (bad[0],))
    if "*" in names:
        return lambda e: e
    keep = set(names) | {"$objectType", "$reserved"}
    return lambda e: dict((k, v) for k, v in e.items() if k in keep)
