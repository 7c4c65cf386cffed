"""Dynamic address group filters: the tag expressions PAN-OS evaluates ("'a' and ('b' or c)")."""
import re

from tests.simulators.panos.registered import tag_key


class FilterError(ValueError):
    """A dynamic address group filter that does not parse."""


_TOKEN_RE = re.compile(r"""\s*(?:(\()|(\))|'([^']*)'|"([^"]*)"|([^\s()'"]+))""")


def parse_filter(text):
    """Compile a dynamic address group filter ("'a' and ('b' or c)") into a predicate over a set of tags.

    Tags are quoted ('x' or "x") or bare words, matched case-insensitively as PAN-OS tag names are; ``and``
    binds tighter than ``or``; parentheses group.
    """
    tokens = []
    pos = 0
    text = text or ""
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError("unexpected character at position %d" % (pos + 1))
        lpar, rpar, single, double, bare = match.groups()
        if lpar:
            tokens.append(("(", None))
        elif rpar:
            tokens.append((")", None))
        elif single is not None or double is not None:
            tokens.append(("tag", tag_key(single if single is not None else double)))
        elif bare.lower() in ("and", "or"):
            tokens.append((bare.lower(), None))
        elif bare.lower() == "not":
            raise FilterError("'not' is not supported in a dynamic address group filter")
        else:
            tokens.append(("tag", tag_key(bare)))
        pos = match.end()
    if not tokens:
        raise FilterError("the filter is empty")

    def expect(index, kinds):
        if index >= len(tokens):
            raise FilterError("the filter ends too early")
        if tokens[index][0] not in kinds:
            raise FilterError("unexpected %r" % (tokens[index][1] or tokens[index][0]))

    def parse_chain(i, operator, parse_operand):
        """operand (operator operand)*: one node, or (operator, [operands])."""
        node, i = parse_operand(i)
        terms = [node]
        while i < len(tokens) and tokens[i][0] == operator:
            node, i = parse_operand(i + 1)
            terms.append(node)
        return ((operator, terms) if len(terms) > 1 else terms[0]), i

    def parse_or(i):
        return parse_chain(i, "or", parse_and)

    def parse_and(i):
        return parse_chain(i, "and", parse_atom)

    def parse_atom(i):
        expect(i, ("(", "tag"))
        if tokens[i][0] == "tag":
            return ("tag", tokens[i][1]), i + 1
        node, i = parse_or(i + 1)
        expect(i, (")",))
        return node, i + 1

    tree, end = parse_or(0)
    if end != len(tokens):
        raise FilterError("unexpected %r" % (tokens[end][1] or tokens[end][0]))

    def evaluate(node, tags):
        kind, value = node
        if kind == "tag":
            return value in tags
        if kind == "and":
            return all(evaluate(n, tags) for n in value)
        return any(evaluate(n, tags) for n in value)

    return lambda tags: evaluate(tree, set(tag_key(t) for t in tags))


def matches_nothing(_tags):
    """The predicate of a filter that does not parse: PAN-OS shows such a group empty (the next commit fails)."""
    return False
