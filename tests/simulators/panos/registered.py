"""registered-ip objects: IPv4 and IPv6 hosts and, since PAN-OS 10.0, IPv4 ranges and networks, which pass their
tags to the objects they contain; and registered tags, whose names are case-insensitive."""
import collections
import functools
import ipaddress

Registered = collections.namedtuple("Registered", "text version first last")
Registered.__doc__ = """A registered-ip object in its canonical spelling, with its first and last address as ints."""


@functools.lru_cache(maxsize=65536)
def parse_registered(text, ranges=True):
    """The registered-ip object *text* names ("10.1.1.5", "2001:db8::5", and with *ranges* "10.1.1.0/24" or
    "10.1.1.10-10.1.1.19"), or None where PAN-OS refuses it: not an address, a zone index (``fe80::1%eth0``,
    which Python's ipaddress accepts), an IPv6 range or network, a backwards range.

    A /32 (or /128) network and a range of one address are that host; a network with host bits is its network.
    """
    text = (text or "").strip()
    if "%" in text:
        return None
    try:
        if text.count("-") == 1:
            first, last = (ipaddress.IPv4Address(part.strip()) for part in text.split("-"))
            if first > last:
                return None
            spelling = "%s-%s" % (first, last)
        elif "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            first, last = network.network_address, network.broadcast_address
            if network.version == 6 and first != last:
                return None
            spelling = str(network)
        else:
            first = last = ipaddress.ip_address(text)
            spelling = None
    except ValueError:
        return None
    if first == last:
        return Registered(str(first), first.version, int(first), int(last))
    if not ranges:
        return None
    return Registered(spelling, first.version, int(first), int(last))


def sort_key(text):
    """Registered objects in numeric order (IPv4 first); a host before the networks that start with it."""
    found = parse_registered(text)
    return (found.version, found.first, found.last)


def contains(outer, inner):
    """True when registered object *outer* (a range or network) holds all of *inner*, and is not *inner*."""
    return (outer.version == inner.version and outer.first <= inner.first and inner.last <= outer.last
            and outer != inner)


def tag_key(name):
    """What makes two tag names the same tag: PAN-OS tag names are not case-sensitive."""
    return name.lower()


def inherited_tags(table):
    """{object: the tag keys it has, its own and those of every range and network that contains it}, for a
    registered table {object: {tag key: ...}}: what dynamic address groups match against."""
    objects = dict((text, parse_registered(text)) for text in table)
    holders = [(found, set(table[text])) for text, found in objects.items() if found.first != found.last]
    result = {}
    for text, found in objects.items():
        tags = set(table[text])
        for holder, holder_tags in holders:
            if contains(holder, found):
                tags |= holder_tags
        result[text] = tags
    return result
