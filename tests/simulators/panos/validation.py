"""Commit-time validation: what a commit job reports about the configuration it snapshots."""
import ipaddress
import re

from tests.simulators.panos.filters import FilterError, parse_filter
from tests.simulators.panos.schema import ADDRESS_TYPES, RULEBASES, members_of, names_in, vsys_and_device_groups

RULE_REQUIRED = ("from", "to", "source", "destination", "application", "service")
PREDEFINED_SERVICES = ("any", "application-default", "service-http", "service-https")


def is_address_literal(value):
    """An IP address, a network or a range ``a-b``: what a rule or an address object may hold literally."""
    try:
        if value.count("-") == 1 and "/" not in value:
            first, last = value.split("-")
            ipaddress.ip_address(first)
            ipaddress.ip_address(last)
            return True
        ipaddress.ip_network(value, strict=False)
        return True
    except ValueError:
        return False


def validate_config(config):
    """What a commit's validation reports about a configuration: a list of error lines (empty when valid)."""
    errors = []
    shared = config.find("shared")
    scopes = [shared] if shared is not None else []
    scopes += vsys_and_device_groups(config)
    for scope in scopes:
        fallback = shared if scope is not shared else None
        addresses = names_in(scope, "address", fallback) | names_in(scope, "address-group", fallback) \
            | names_in(scope, "external-list", fallback)
        services = names_in(scope, "service", fallback) | names_in(scope, "service-group", fallback)
        zones = names_in(scope, "zone")
        for entry in scope.findall("address/entry"):
            kinds = [t for t in ADDRESS_TYPES if entry.find(t) is not None]
            where = "address -> %s" % entry.get("name")
            if len(kinds) > 1:
                errors.append("%s Node %s and %s are mutually exclusive" % (where, kinds[0], kinds[1]))
            elif not kinds:
                errors.append("%s is missing 'ip-netmask', 'ip-range', 'fqdn' or 'ip-wildcard'" % where)
            elif kinds[0] in ("ip-netmask", "ip-range"):
                value = (entry.findtext(kinds[0]) or "").strip()
                if not is_address_literal(value) or (kinds[0] == "ip-range") != ("-" in value):
                    errors.append("%s -> %s '%s' is not a valid address" % (where, kinds[0], value))
        for entry in scope.findall("address-group/entry"):
            where = "address-group -> %s" % entry.get("name")
            static, dynamic = entry.find("static"), entry.find("dynamic")
            if static is not None and dynamic is not None:
                errors.append("%s Node static and dynamic are mutually exclusive" % where)
            elif static is None and dynamic is None:
                errors.append("%s is missing 'static' or 'dynamic'" % where)
            for member in members_of(entry, "static"):
                if member not in addresses or member == entry.get("name"):
                    errors.append("%s -> static '%s' is not a valid reference" % (where, member))
            if dynamic is not None:
                text = dynamic.findtext("filter")
                try:
                    parse_filter(text)
                except FilterError as e:
                    errors.append("%s -> dynamic -> filter '%s' is invalid (%s)" % (where, text or "", e))
        if scope is shared and shared.find("pre-rulebase") is None:  # a firewall's shared has no policy
            continue
        rules = [(base, entry) for base in RULEBASES for entry in scope.findall(base + "/security/rules/entry")]
        for base, entry in rules:
            where = "%s -> security -> rules -> %s" % (base, entry.get("name"))
            for field in RULE_REQUIRED:
                if not members_of(entry, field):
                    errors.append("%s is missing '%s'" % (where, field))
            for field in ("from", "to"):
                for member in members_of(entry, field):
                    # On Panorama, zones come from templates (not modelled): any name is accepted.
                    if member != "any" and member not in zones and base == "rulebase":
                        errors.append("%s -> %s '%s' is not a valid reference" % (where, field, member))
            for field in ("source", "destination"):
                for member in members_of(entry, field):
                    if member != "any" and member not in addresses and not is_address_literal(member) \
                            and not re.match(r"^[A-Z0-9]{2}$", member):
                        errors.append("%s -> %s '%s' is not an allowed keyword" % (where, field, member))
            for member in members_of(entry, "service"):
                if member not in PREDEFINED_SERVICES and member not in services:
                    errors.append("%s -> service '%s' is not a valid reference" % (where, member))
    return errors
