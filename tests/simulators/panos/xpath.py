"""XPath: selecting with lxml as PAN-OS does, and walking or creating a plain location path under /config."""
import copy
import re

from lxml import etree

from tests.simulators.panos.schema import RULEBASE_CHILDREN, RULEBASES, SCOPE_CHILDREN, is_scope
from tests.simulators.panos.xmlapi import ApiError

_STEP_RE = re.compile(r"""^([A-Za-z_][\w.-]*)(?:\[@name=(?:'([^']*)'|"([^"]*)")\])?$""")


def split_xpath(xpath):
    """'/config/a/entry[@name='x/y']' -> ['config', 'a', "entry[@name='x/y']"] (slashes in quotes kept)."""
    steps, current, quote, depth = [], [], None, 0
    for char in xpath:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == "[":
            depth += 1
            current.append(char)
        elif char == "]":
            depth -= 1
            current.append(char)
        elif char == "/" and depth == 0:
            steps.append("".join(current))
            current = []
        else:
            current.append(char)
    steps.append("".join(current))
    if quote or depth:
        raise ApiError(6, "Bad Xpath: %s" % xpath)
    return steps


def simple_steps(xpath):
    """[(tag, name-or-None)] for a plain location path under /config, or None if it is not that simple."""
    raw = split_xpath(xpath)
    if len(raw) < 2 or raw[0] != "" or raw[1] != "config":
        return None
    steps = []
    for step in raw[2:]:
        match = _STEP_RE.match(step)
        if not match:
            return None
        name = match.group(2) if match.group(2) is not None else match.group(3)
        steps.append((match.group(1), name))
    return steps


def find_child(parent, tag, name):
    for child in parent:
        if child.tag == tag and (name is None or child.get("name") == name):
            return child
    return None


def select(config, xpath):
    """What *xpath* selects in *config* (lxml, so unions, predicates and functions work), or ApiError 6."""
    try:
        found = config.getroottree().xpath(xpath)
    except (etree.XPathError, ValueError, TypeError):
        raise ApiError(6, "Bad Xpath: %s" % xpath)
    if not isinstance(found, list):
        return [found]
    return found


def result_nodes(found):
    """Copies of what an xpath selected, as PAN-OS shows them (an attribute as its element with only it)."""
    nodes, texts = [], []
    for item in found:
        if isinstance(item, etree._Element):
            if isinstance(item.tag, str):
                nodes.append(copy.deepcopy(item))
        elif getattr(item, "is_attribute", False):
            holder = etree.Element(item.getparent().tag)
            holder.set(item.attrname, str(item))
            nodes.append(holder)
        else:
            texts.append(str(item).lower() if isinstance(item, bool) else str(item))
    return nodes, texts


def locate(config, xpath, create):
    """The single element at *xpath* in *config*; created along a plain path when *create*; None if absent."""
    found = [n for n in select(config, xpath) if isinstance(n, etree._Element)]
    if len(found) > 1:
        raise ApiError(8, "Object not unique: %s selects %d nodes" % (xpath, len(found)))
    if found:
        return found[0]
    if not create:
        return None
    steps = simple_steps(xpath)
    if steps is None:
        raise ApiError(7, "No such node")
    node = config
    for tag, name in steps:
        child = find_child(node, tag, name)
        if child is None:
            if is_scope(node) and tag not in SCOPE_CHILDREN or \
                    node.tag in RULEBASES and tag not in RULEBASE_CHILDREN:
                raise ApiError(12, "Could not find schema node for xpath %s" % xpath)
            child = etree.SubElement(node, tag)
            if name is not None:
                child.set("name", name)
        node = child
    return node
