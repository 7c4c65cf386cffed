"""type=config: get and show read the candidate and running configuration; set, edit, delete and move change
the candidate, with the schema and reference checks PAN-OS makes, and mark what they changed (``dirty``)."""
import copy
import uuid as uuidlib

from lxml import etree

from tests.simulators.panos.dirty import strip
from tests.simulators.panos.registered import tag_key
from tests.simulators.panos.schema import (
    REFERENCE_FIELDS, RULEBASES, SCOPE_CHILDREN, check_object, check_tag_names_unique, is_reference, is_scope,
    label_of, names_in, object_kind, scope_of, vsys_and_device_groups)
from tests.simulators.panos.xmlapi import (
    ApiError, command_succeeded, illegal, missing, parse_fragment, success)
from tests.simulators.panos.xpath import find_child, locate, result_nodes, select, simple_steps


class ConfigApi(object):
    """Mixin of PanosSimulator: ``self._candidate`` and ``self._running`` are the two configurations."""

    def _config(self, params):
        action = params.get("action")
        self._config_actions[action or "(none)"] += 1
        handlers = {"get": self._config_get, "show": self._config_show, "set": self._config_set,
                    "edit": self._config_edit, "delete": self._config_delete, "move": self._config_move}
        if action is None:
            raise missing("action")
        if action in ("rename", "clone", "override", "multi-config", "complete"):
            raise ApiError(1, "action %s is not supported by this simulator" % action)
        if action not in handlers:
            raise illegal("action", action)
        return handlers[action](params)

    def _config_get(self, params):
        nodes, texts = result_nodes(select(self._candidate, params.get("xpath") or "/config"))
        if not nodes and not texts:
            return success(code=7, result=etree.Element("result"))
        count = str(len(nodes) or len(texts))
        return success(code=19, result=self._result(nodes, texts, {"total-count": count, "count": count}))

    def _config_show(self, params):
        nodes, texts = result_nodes(select(self._running, params.get("xpath") or "/config"))
        if not nodes and not texts:
            raise ApiError(None, "No such node")
        return success(result=self._result(nodes, texts))

    @staticmethod
    def _result(nodes, texts, attributes=None):
        result = etree.Element("result", attributes or {})
        if texts and not nodes:
            result.text = "".join(texts)
        for node in nodes:
            result.append(node)
        return result

    def _require_xpath(self, params):
        xpath = params.get("xpath")
        if not xpath:
            raise missing("xpath")
        if not xpath.startswith("/config/") and xpath != "/config":
            raise ApiError(12, "Could not find schema node for xpath %s" % xpath)
        if xpath.startswith("/config/predefined"):
            raise ApiError(15, "Predefined configuration cannot be changed")
        return xpath

    def _checked_change(self, change):
        """Apply *change(config)* -> element to a copy of the candidate, check it, then make it the candidate."""
        config = copy.deepcopy(self._candidate)
        target = change(config)
        self._check_touched(target)
        self._assign_rule_uuids(config)
        self._candidate = config

    @staticmethod
    def _check_touched(target):
        """The schema checks PAN-OS makes on a changed element, its ancestors and everything inside it."""
        outward = [target] + list(target.iterancestors())
        inside = [e for e in target.iter() if e is not target and isinstance(e.tag, str)]
        tag_lists = set()
        for element in outward + inside:
            kind = object_kind(element)
            if kind:
                check_object(element, kind)
            if kind == "tag":
                tag_lists.add(element.getparent())
            if is_scope(element):
                for child in element:
                    if child.tag not in SCOPE_CHILDREN:
                        raise ApiError(12, " %s -> %s unexpected here" % (element.get("name", element.tag), child.tag))
        for tags in tag_lists:
            check_tag_names_unique(tags)

    @staticmethod
    def _assign_rule_uuids(config):
        # PAN-OS 9.0+ gives every policy rule a uuid when it is created.
        for rule in [r for base in RULEBASES for r in config.iterfind(".//%s/*/rules/entry" % base)]:
            if not rule.get("uuid"):
                rule.set("uuid", str(uuidlib.uuid4()))

    @staticmethod
    def _fragment(params):
        """The element= children, without the change marks a client may echo from a `get` (PAN-OS sets them)."""
        return [strip(element) for element in parse_fragment(params.get("element"))]

    def _config_set(self, params):
        xpath = self._require_xpath(params)
        fragment = self._fragment(params)
        marker = self._new_marker()

        def change(config):
            target = locate(config, xpath, create=True)
            changed = False
            for element in fragment:
                changed = self._merge(target, element, marker) or changed
            if changed:
                marker.upward(target)
            return target

        self._checked_change(change)
        return command_succeeded()

    @classmethod
    def _merge(cls, parent, new, marker):
        """set semantics: add what is missing, recurse into what exists, replace leaf values, add members.
        True when something changed; *marker* marks what did."""
        if not isinstance(new.tag, str):
            return False
        if new.get("name") is not None:
            existing = find_child(parent, new.tag, new.get("name"))
        elif new.tag == "member":
            existing = next((m for m in parent if m.tag == "member" and (m.text or "") == (new.text or "")), None)
        else:
            existing = find_child(parent, new.tag, None)
        if existing is None:
            added = copy.deepcopy(new)
            parent.append(added)
            marker.subtree(added)
            return True
        changed = False
        for key, value in new.attrib.items():
            changed = changed or existing.get(key) != value
            existing.set(key, value)
        if len(new):
            changed = changed or bool((existing.text or "").strip())
            existing.text = None
            for child in new:
                changed = cls._merge(existing, child, marker) or changed
        elif new.text is not None and new.text.strip() and new.tag != "member":
            changed = changed or len(existing) > 0 or existing.text != new.text
            for child in list(existing):
                existing.remove(child)
            existing.text = new.text
        if changed:
            marker.node(existing)
        return changed

    def _config_edit(self, params):
        xpath = self._require_xpath(params)
        fragment = self._fragment(params)
        if len(fragment) != 1:
            raise ApiError(12, "Edit breaks config validity: edit takes exactly one element")
        new = fragment[0]
        marker = self._new_marker()

        def change(config):
            old = locate(config, xpath, create=False)
            if old is None:
                steps = simple_steps(xpath)
                if not steps:
                    raise ApiError(7, "No such node")
                parent_xpath = "/config" + "".join(
                    "/%s" % (tag if name is None else "%s[@name=%s]" % (tag, self._literal(name)))
                    for tag, name in steps[:-1])
                parent = locate(config, parent_xpath, create=True) if steps[:-1] else config
                tag, name = steps[-1]
                if new.tag != tag or (name is not None and new.get("name") != name):
                    raise ApiError(12, "Edit breaks config validity")
                if is_scope(parent) and tag not in SCOPE_CHILDREN:
                    raise ApiError(12, "Could not find schema node for xpath %s" % xpath)
                replacement = copy.deepcopy(new)
                parent.append(replacement)
                marker.subtree(replacement)
                marker.upward(replacement)
                return replacement
            if new.tag != old.tag or (old.get("name") is not None and new.get("name") != old.get("name")):
                raise ApiError(12, "Edit breaks config validity")
            replacement = copy.deepcopy(new)
            if old.get("uuid") and not replacement.get("uuid") and object_kind(old) == "rule":
                replacement.set("uuid", old.get("uuid"))       # a rule keeps its identity across edits
            parent = old.getparent()
            if parent is None:
                raise ApiError(15, "Operation denied: the configuration root cannot be replaced")
            parent.replace(old, replacement)
            marker.subtree(replacement)
            marker.upward(replacement)
            return replacement

        self._checked_change(change)
        return command_succeeded()

    @staticmethod
    def _literal(value):
        return "'%s'" % value if "'" not in value else '"%s"' % value

    def _config_delete(self, params):
        xpath = self._require_xpath(params)
        found = [n for n in select(self._candidate, xpath) if isinstance(n, etree._Element)]
        if not found:
            return success(code=7, msg="Object doesn't exist")
        if any(node.getparent() is None for node in found):
            raise ApiError(15, "Operation denied: the configuration root cannot be deleted")
        # The elements themselves, not their id()s: lxml makes a proxy per access, and a freed proxy's id is
        # soon another's, which made an unrelated reference look doomed.
        doomed = set()
        for node in found:
            doomed.update(node.iter())
        for node in found:
            for obj in node.iter("entry"):
                kind = object_kind(obj)
                if kind:
                    refs = self._references(obj, kind, doomed)
                    if refs:
                        raise ApiError(10, [" %s cannot be deleted because of references from:" % obj.get("name")]
                                       + [" " + ref for ref in refs])
        marker = self._new_marker()
        for node in found:
            parent = node.getparent()
            parent.remove(node)
            marker.upward(parent)
        return command_succeeded()

    def _references(self, obj, kind, doomed):
        """Labels of the places (outside *doomed*) that refer to object *obj* of *kind*."""
        name = obj.get("name")
        scope = scope_of(obj)
        if scope is None:
            return []
        if scope.tag == "shared":
            config = scope.getparent()
            # A vsys object of the same name shadows the shared one inside that vsys.
            scopes = [scope] + [v for v in vsys_and_device_groups(config) if name not in names_in(v, kind)]
        else:
            scopes = [scope]
        if kind not in REFERENCE_FIELDS:
            return []
        same = (lambda text: tag_key(text) == tag_key(name)) if kind == "tag" else (lambda text: text == name)
        refs = []
        for where in scopes:
            for member in where.iter("member"):
                if member in doomed or not same((member.text or "").strip()):
                    continue
                if is_reference(member, kind):
                    label = label_of(member.getparent())
                    if label not in refs:
                        refs.append(label)
        return refs

    def _config_move(self, params):
        xpath = self._require_xpath(params)
        where = params.get("where")
        dst = params.get("dst")
        if where not in ("top", "bottom", "before", "after"):
            raise ApiError(17, "Invalid command: where must be top, bottom, before or after, not %r" % where)
        node = locate(self._candidate, xpath, create=False)
        if node is None:
            raise ApiError(7, "No such node")
        parent = node.getparent()
        if where in ("before", "after"):
            if not dst:
                raise ApiError(7, "no target specified in move")
            if dst == node.get("name"):
                raise ApiError(14, "Operation not possible: cannot move %s relative to itself" % dst)
            anchor = find_child(parent, node.tag, dst)
            if anchor is None:
                raise ApiError(13, "Object not found: %s does not exist" % dst)
        parent.remove(node)
        if where == "before":
            anchor.addprevious(node)
        elif where == "after":
            anchor.addnext(node)
        elif where == "top":
            parent.insert(0, node)
        else:
            parent.append(node)
        self._new_marker().upward(node)
        return command_succeeded()
