"""POST /<kind>s/list: paging capped at 500, FIQL filters whose values are regular expressions, sorting."""
import re
from urllib.parse import unquote

from flask import jsonify

from tests.simulators.prism.entities import API_VERSION, ApiError
from tests.simulators.prism.validation import Invalid, request_body

DEFAULT_LIST_LENGTH = 20
MAX_LIST_LENGTH = 500  # Prism returns at most 500 entities per list call; larger requests are clamped

FILTER_ATTRIBUTES = {
    "webhook": {"name": lambda e: e["spec"].get("name")},
    "vm": {
        "vm_name": lambda e: e["spec"].get("name"),
        "power_state": lambda e: (e["status"].get("resources") or {}).get("power_state"),
    },
    "cluster": {"name": lambda e: e["spec"].get("name")},
}
SORT_ATTRIBUTES = {"webhook": ("name",), "vm": ("name", "vm_name"), "cluster": ("name",)}


def compile_filter(text, kind):
    """FIQL as Prism takes it: ``;`` is AND, ``,`` is OR, terms ``attr==value`` / ``attr!=value``.
    Values are regular expressions matched anywhere (``vm_name==web`` also lists ``web-01``)."""
    attrs = FILTER_ATTRIBUTES[kind]
    groups = []
    for alternative in text.split(","):
        terms = []
        for term in alternative.split(";"):
            match = re.match(r"^\s*([A-Za-z_]+)\s*(==|!=)(.*)$", term)
            if not match or match.group(1) not in attrs:
                raise ApiError(422, "INVALID_REQUEST", "Request could not be processed.",
                               {"filter": ["unsupported filter term %r (supported: %s)"
                                           % (term, ", ".join(sorted(attrs)))]})
            value = unquote(match.group(3).strip())
            try:
                pattern = re.compile(value)
            except re.error:
                pattern = re.compile(re.escape(value))
            terms.append((attrs[match.group(1)], match.group(2) == "==", pattern))
        groups.append(terms)

    def matches(entity):
        return any(all(bool(pattern.search(str(get(entity) or ""))) == positive for get, positive, pattern in terms)
                   for terms in groups)
    return matches


def list_answer(kind, store, render):
    """The answer to POST /<kind>s/list for the entities in *store* (rendered by *render*)."""
    body = request_body()
    invalid = Invalid()
    if "kind" in body and body["kind"] != kind:
        invalid.add("kind", "%r is not one of [%r]" % (body["kind"], kind))
    length = body.get("length", DEFAULT_LIST_LENGTH)
    offset = body.get("offset", 0)
    for name, value, minimum in (("length", length, 1), ("offset", offset, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            invalid.add(name, "%r is not an integer >= %d" % (value, minimum))
    sort_attribute = body.get("sort_attribute")
    if sort_attribute is not None and sort_attribute not in SORT_ATTRIBUTES[kind]:
        invalid.add("sort_attribute", "%r is not one of %s" % (sort_attribute, list(SORT_ATTRIBUTES[kind])))
    sort_order = body.get("sort_order", "ASCENDING")
    if sort_order not in ("ASCENDING", "DESCENDING"):
        invalid.add("sort_order", "%r is not one of ['ASCENDING', 'DESCENDING']" % (sort_order,))
    invalid.raise_if_any()
    entities = list(store.values())
    if body.get("filter"):
        matches = compile_filter(str(body["filter"]), kind)
        entities = [e for e in entities if matches(e)]
    if sort_attribute:
        entities.sort(key=lambda e: e["spec"].get("name") or "", reverse=sort_order == "DESCENDING")
    page = entities[offset:offset + min(length, MAX_LIST_LENGTH)]
    metadata = {"kind": kind, "total_matches": len(entities), "length": len(page), "offset": offset}
    for key in ("filter", "sort_attribute", "sort_order"):
        if key in body:
            metadata[key] = body[key]
    return jsonify({"api_version": API_VERSION, "metadata": metadata,
                    "entities": [render(e, with_api_version=False) for e in page]})
