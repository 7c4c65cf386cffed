"""Run by the SDK venv's Python (never by pytest's): read a Prism simulator's v4 API through the official Nutanix
SDKs and print, as JSON, what their models hold.

Usage: python sdk_v4_probe.py '{"host": ..., "port": ..., "username": ..., "password": ..., "ca": ...,
"vm_ext_id": ..., "page_limit": N}'

Every answer is deserialized by the SDK itself (its ApiClient picks each class from ``$objectType``). The probe
fails (exit 1, a JSON "errors" list) when any model was left with fields it did not know (``$unknownFields``),
or a one-of came back as a plain dict instead of one of its classes: a shape the simulator invented.
"""
import json
import sys

import ntnx_clustermgmt_py_client as clustermgmt
import ntnx_prism_py_client as prism
import ntnx_vmm_py_client as vmm

ERRORS = []


def api_client(package, cfg, password=None):
    config = package.Configuration()
    config.host = cfg["host"]
    config.port = cfg["port"]
    config.username = cfg["username"]
    config.password = cfg["password"] if password is None else password
    config.verify_ssl = True
    config.root_ca_certificate_file = cfg["ca"]
    config.max_retry_attempts = 1
    return package.ApiClient(configuration=config)


def check_model(obj, where):
    """Walk an SDK model: no unknown fields anywhere, and no one-of left as a dict."""
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            check_model(item, "%s[%d]" % (where, i))
        return
    if isinstance(obj, dict):
        if "$objectType" in obj:
            ERRORS.append("%s: %s was not deserialized into a model" % (where, obj["$objectType"]))
        return
    if not hasattr(obj, "swagger_types"):
        return
    unknown = obj.get_unknown_fields() if hasattr(obj, "get_unknown_fields") else {}
    if unknown:
        ERRORS.append("%s (%s): unknown fields %s" % (where, type(obj).__name__, sorted(unknown)))
    for attr in obj.swagger_types:
        if not attr.startswith("_"):
            check_model(getattr(obj, attr), "%s.%s" % (where, attr))


def vm_summary(vm):
    ips = []
    for nic in vm.nics or []:
        info = getattr(nic, "nic_network_info", None) or nic.network_info
        config = info.ipv4_config
        if config is not None and config.ip_address is not None:
            ips.append(config.ip_address.value)
        for address in (info.ipv4_info.learned_ip_addresses or []) if info.ipv4_info else []:
            ips.append(address.value)
    return {"ext_id": vm.ext_id, "name": vm.name, "power_state": vm.power_state,
            "cluster": vm.cluster.ext_id if vm.cluster else None,
            "categories": sorted(c.ext_id for c in vm.categories or []), "ips": ips,
            "nic_classes": sorted(set(type(getattr(n, "nic_network_info", None) or n.network_info).__name__
                                      for n in vm.nics or []))}


def error_summary(exc, client, response_type):
    """An ApiException's body, deserialized into the SDK's ErrorResponse models."""
    body = client.deserialize(json.loads(exc.body), response_type)
    check_model(body, "error %d" % exc.status)
    error = body.data.error
    messages = error if isinstance(error, list) else [error]
    return {"status": exc.status, "response": type(body).__name__, "data": type(body.data).__name__,
            "messages": [{"class": type(m).__name__, "code": getattr(m, "code", None),
                          "message": getattr(m, "message", None) or getattr(m, "error", None),
                          "paths": [v.attribute_path for v in getattr(m, "validation_error_messages", None) or []]}
                         for m in messages]}


def main(cfg):
    report = {}
    vms_client = api_client(vmm, cfg)
    vms = vmm.VmApi(api_client=vms_client)
    pages, page = [], 0
    while True:
        answer = vms.list_vms(_page=page, _limit=cfg["page_limit"])
        check_model(answer, "list_vms page %d" % page)
        items = answer.data or []
        pages.append({"count": len(items), "total": answer.metadata.total_available_results,
                      "links": sorted(link.rel for link in answer.metadata.links or []),
                      "vms": [vm_summary(vm) for vm in items]})
        if len(items) < cfg["page_limit"]:
            break
        page += 1
    report["pages"] = pages
    report["negotiated"] = getattr(vms_client, "negotiated_version", None)

    one = vms.get_vm_by_id(cfg["vm_ext_id"])
    check_model(one, "get_vm_by_id")
    report["vm"] = vm_summary(one.data)
    report["vm_class"] = type(one.data).__name__
    report["etag"] = vmm.ApiClient.get_etag(one)
    selected = vms.list_vms(_limit=1, _select="extId,name")
    check_model(selected, "list_vms $select")
    report["selected"] = {"ext_id": selected.data[0].ext_id, "name": selected.data[0].name,
                          "nics": selected.data[0].nics}
    filtered = vms.list_vms(_filter="extId eq '%s'" % cfg["vm_ext_id"])
    report["filtered"] = [vm.ext_id for vm in filtered.data or []]

    categories_client = api_client(prism, cfg)
    categories = prism.CategoriesApi(api_client=categories_client)
    listed = categories.list_categories(_limit=100)
    check_model(listed, "list_categories")
    report["categories"] = sorted([c.ext_id, c.key, c.value, c.type] for c in listed.data or [])
    first = (listed.data or [None])[0]
    if first is not None:
        got = categories.get_category_by_id(first.ext_id)
        check_model(got, "get_category_by_id")
        report["category"] = [got.data.ext_id, got.data.key, got.data.value, type(got.data).__name__]
    report["prism_negotiated"] = getattr(categories_client, "negotiated_version", None)

    clusters = clustermgmt.ClustersApi(api_client=api_client(clustermgmt, cfg))
    listed = clusters.list_clusters()
    check_model(listed, "list_clusters")
    report["clusters"] = sorted([c.ext_id, c.name, [str(getattr(f, "value", f)) for f in (
        c.config.cluster_function if c.config else None) or []]] for c in listed.data or [])

    for name, call, client, response_type in (
            ("unauthorized", lambda c: vmm.VmApi(api_client=c).list_vms(), api_client(vmm, cfg, password="wrong"),
             "vmm.v4.ahv.config.ListVmsApiResponse"),
            ("not_found", lambda c: vmm.VmApi(api_client=c).get_vm_by_id("00000000-0000-4000-8000-000000000000"),
             vms_client, "vmm.v4.ahv.config.GetVmApiResponse"),
            ("bad_limit", lambda c: vmm.VmApi(api_client=c).list_vms(_limit=101), vms_client,
             "vmm.v4.ahv.config.ListVmsApiResponse")):
        try:
            call(client)
        except vmm.rest.ApiException as e:
            report[name] = error_summary(e, client, response_type)
        else:
            ERRORS.append("%s: the SDK raised nothing" % name)
    report["errors"] = ERRORS
    print(json.dumps(report, default=str))
    return 1 if ERRORS else 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
