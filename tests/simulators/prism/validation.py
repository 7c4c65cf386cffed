"""Request bodies checked as Prism checks them: one 422 whose details are keyed by the JSON path, 409 on a stale
spec_version, and the defaults AHV fills in (NIC uuid, MAC, type, subnet)."""
import collections
import copy
import ipaddress
import json
from urllib.parse import urlsplit

from flask import request

from tests.simulators.prism.entities import (
    DEFAULT_SUBNET_REF, KNOWN_EVENTS, ApiError, cluster_ref, new_uuid, random_mac)


class Invalid(object):
    """Collects schema errors the way Prism reports them: one 422, details keyed by the JSON path."""

    def __init__(self):
        self.details = collections.OrderedDict()

    def add(self, path, message):
        self.details.setdefault(path or "body", []).append(message)

    def raise_if_any(self):
        if self.details:
            raise ApiError(422, "INVALID_REQUEST", "Request could not be processed.", dict(self.details))


def required_dict(parent, key, path, invalid):
    value = parent.get(key) if isinstance(parent, dict) else None
    if key not in (parent or {}):
        invalid.add(path, "'%s' is a required property" % key)
        return None
    if not isinstance(value, dict):
        invalid.add(join_path(path, key), "%r is not of type 'object'" % (value,))
        return None
    return value


def join_path(path, key):
    return "%s.%s" % (path, key) if path else key


def request_body():
    """The request's JSON object ({} for an empty body); 400 if it is not JSON, 422 if not an object."""
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "INVALID_REQUEST", "Request body is not valid JSON.")
    if not isinstance(body, dict):
        raise ApiError(422, "INVALID_REQUEST", "Request could not be processed.",
                       {"body": ["%r is not of type 'object'" % (body,)]})
    return body


def validate_intent(body, kind, invalid):
    """(metadata, spec) of an intentful body of *kind*; what is wrong goes to *invalid*."""
    metadata = required_dict(body, "metadata", "", invalid)
    spec = required_dict(body, "spec", "", invalid)
    if metadata is not None:
        if "kind" not in metadata:
            invalid.add("metadata", "'kind' is a required property")
        elif metadata["kind"] != kind:
            invalid.add("metadata.kind", "%r is not one of [%r]" % (metadata["kind"], kind))
    if spec is not None:
        name = spec.get("name")
        if "name" not in spec:
            invalid.add("spec", "'name' is a required property")
        elif not isinstance(name, str) or not name.strip():
            invalid.add("spec.name", "%r is not a non-empty string" % (name,))
        if "description" in spec and not isinstance(spec["description"], str):
            invalid.add("spec.description", "%r is not of type 'string'" % (spec["description"],))
    return metadata, spec


def validate_webhook(body):
    invalid = Invalid()
    spec = validate_intent(body, "webhook", invalid)[1]
    res = required_dict(spec, "resources", "spec", invalid) if spec is not None else None
    if res is not None:
        url = res.get("post_url")
        if "post_url" not in res:
            invalid.add("spec.resources", "'post_url' is a required property")
        elif not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(
                url).hostname:
            invalid.add("spec.resources.post_url", "%r is not a valid http(s) URL" % (url,))
        events = res.get("events_filter_list")
        if "events_filter_list" not in res:
            invalid.add("spec.resources", "'events_filter_list' is a required property")
        elif not isinstance(events, list) or not events:
            invalid.add("spec.resources.events_filter_list", "%r is not a non-empty array" % (events,))
        else:
            for event in events:
                if event not in KNOWN_EVENTS:
                    invalid.add("spec.resources.events_filter_list",
                                "%r is not one of %s" % (event, list(KNOWN_EVENTS)))
        creds = res.get("credentials")
        if "credentials" in res:
            if not isinstance(creds, dict) or not isinstance(creds.get("username"), str):
                invalid.add("spec.resources.credentials", "'username' is a required property")
            elif "password" in creds and not isinstance(creds["password"], str):
                invalid.add("spec.resources.credentials.password", "is not of type 'string'")
    invalid.raise_if_any()
    return copy.deepcopy(spec)


def validate_vm(body, clusters, old_nics=(), old_cluster=None):
    """(spec, categories) of a VM create (or, with *old_cluster*, update). clusters: {uuid: name} of the
    Prism Central's clusters; a create that names none goes to the first, an update stays where it is."""
    invalid = Invalid()
    metadata, spec = validate_intent(body, "vm", invalid)
    res = required_dict(spec, "resources", "spec", invalid) if spec is not None else None
    categories = {}
    if metadata is not None:
        if metadata.get("use_categories_mapping") and isinstance(metadata.get("categories_mapping"), dict):
            source = dict((k, v[0] if isinstance(v, list) and v else v)
                          for k, v in metadata["categories_mapping"].items())
        else:
            source = metadata.get("categories", {})
        if not isinstance(source, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in source.items()):
            invalid.add("metadata.categories", "%r is not a map of category name to value" % (source,))
        else:
            categories = dict(source)
    nics = []
    if res is not None:
        power = res.get("power_state", "OFF")
        if power not in ("ON", "OFF"):
            invalid.add("spec.resources.power_state", "%r is not one of ['ON', 'OFF']" % (power,))
        nics = res.get("nic_list", [])
        if not isinstance(nics, list):
            invalid.add("spec.resources.nic_list", "%r is not of type 'array'" % (nics,))
            nics = []
        for i, nic in enumerate(nics):
            path = "spec.resources.nic_list[%d]" % i
            if not isinstance(nic, dict):
                invalid.add(path, "%r is not of type 'object'" % (nic,))
                continue
            endpoints = nic.get("ip_endpoint_list", [])
            if not isinstance(endpoints, list):
                invalid.add(path + ".ip_endpoint_list", "%r is not of type 'array'" % (endpoints,))
                continue
            for j, endpoint in enumerate(endpoints):
                ip = endpoint.get("ip") if isinstance(endpoint, dict) else None
                try:
                    ipaddress.ip_address(ip)
                except (TypeError, ValueError):
                    invalid.add("%s.ip_endpoint_list[%d].ip" % (path, j), "%r is not a valid IP address" % (ip,))
    cluster = _cluster_reference(spec, clusters, old_cluster, invalid) if spec is not None else None
    invalid.raise_if_any()
    spec = copy.deepcopy(spec)
    spec["resources"]["power_state"] = spec["resources"].get("power_state", "OFF")
    spec["resources"].setdefault("memory_size_mib", 1024)
    spec["resources"]["nic_list"] = [normalize_nic(nic, old_nics) for nic in nics]
    spec["cluster_reference"] = cluster
    return spec, categories


def _cluster_reference(spec, clusters, old_cluster, invalid):
    """The VM's cluster_reference as Prism keeps it (kind, name, uuid: the client gives the uuid)."""
    ref = spec.get("cluster_reference")
    if ref is None:
        return copy.deepcopy(old_cluster) if old_cluster else cluster_ref(*next(iter(clusters.items())))
    if not isinstance(ref, dict) or ref.get("kind", "cluster") != "cluster" or ref.get("uuid") not in clusters:
        invalid.add("spec.cluster_reference", "%r is not a reference to a cluster of this Prism Central (%s)"
                    % (ref, ", ".join("%s %s" % item for item in clusters.items())))
        return None
    if old_cluster and ref["uuid"] != old_cluster["uuid"]:
        invalid.add("spec.cluster_reference.uuid", "a VM does not move to another cluster by an update")
        return None
    return cluster_ref(ref["uuid"], clusters[ref["uuid"]])


def normalize_nic(nic, old_nics):
    """Fill what AHV assigns (uuid, MAC, defaults). A NIC keeps its identity when the client sends its uuid."""
    nic = copy.deepcopy(nic)
    old = next((n for n in old_nics if nic.get("uuid") and n.get("uuid") == nic["uuid"]), None)
    nic.setdefault("uuid", new_uuid())
    nic.setdefault("mac_address", old["mac_address"] if old else random_mac())
    nic.setdefault("nic_type", "NORMAL_NIC")
    nic.setdefault("is_connected", True)
    nic.setdefault("subnet_reference", copy.deepcopy(DEFAULT_SUBNET_REF))
    nic["ip_endpoint_list"] = [dict(ep, type=ep.get("type", "ASSIGNED"), ip=str(ipaddress.ip_address(ep["ip"])))
                               for ep in nic.get("ip_endpoint_list", [])]
    return nic


def check_spec_version(entity, metadata, kind, path_uuid):
    invalid = Invalid()
    version = metadata.get("spec_version")
    if "spec_version" not in metadata:
        invalid.add("metadata", "'spec_version' is a required property")
    elif not isinstance(version, int) or isinstance(version, bool):
        invalid.add("metadata.spec_version", "%r is not of type 'integer'" % (version,))
    if metadata.get("uuid") not in (None, path_uuid):
        invalid.add("metadata.uuid", "%r does not match the uuid in the URL" % (metadata["uuid"],))
    invalid.raise_if_any()
    if entity["status"].get("state") == "DELETE_PENDING":
        raise ApiError(409, "CONCURRENT_REQUESTS_NOT_ALLOWED", "The %s %s is being deleted." % (kind, path_uuid))
    current = entity["metadata"]["spec_version"]
    if version != current:
        raise ApiError(409, "CONCURRENT_REQUESTS_NOT_ALLOWED",
                       "Given input spec_version %d does not match current spec_version %d" % (version, current))
