"""type=op: the operational commands the collection and pan-os-python send (system info, pending changes,
configuration views and reverts, dynamic address group membership, clock, locks, admins)."""
import copy
import time

from flask import request
from lxml import etree

from tests.simulators.panos.filters import FilterError, matches_nothing, parse_filter
from tests.simulators.panos.schema import members_of
from tests.simulators.panos.registered import inherited_tags, sort_key
from tests.simulators.panos.xmlapi import ApiError, panos_time, parse_xml, result_children, result_text, success


class OpCommands(object):
    """Mixin of PanosSimulator; the jobs commands are in Commits, `show object registered-ip` in UserId."""

    def _op(self, params):
        """Walk the command down its single children ("show system info"), count it, run its handler."""
        cmd = parse_xml(params.get("cmd"), "cmd")
        path = []
        node = cmd
        while True:
            path.append(node.tag)
            children = [c for c in node if isinstance(c.tag, str)]
            if len(children) != 1 or (node.text or "").strip() or " ".join(path) in (
                    "show object registered-ip", "show object dynamic-address-group", "show jobs", "load config"):
                break
            node = children[0]
        label = " ".join(path)
        self._ops[label] += 1
        handlers = {
            "show system info": self._op_system_info,
            "show jobs": self._op_jobs,
            "check pending-changes": lambda n: result_text("yes" if self._pending() else "no"),
            "show config running": lambda n: self._op_show_config(self._running),
            "show config candidate": lambda n: self._op_show_config(self._candidate),
            "show object registered-ip": self._op_registered_ip,
            "show object dynamic-address-group": self._op_dynamic_groups,
            "show clock": lambda n: result_text(time.strftime("%a %b %d %H:%M:%S UTC %Y\n",
                                                              time.gmtime(self._now()))),
            "show high-availability state": lambda n: result_children((("enabled", "no"),)),
            "show commit-locks": lambda n: result_children((("commit-locks", None),)),
            "show config-locks": lambda n: result_children((("config-locks", None),)),
            "show chassis-ready": lambda n: result_text("yes"),
            "show panorama-status": lambda n: result_text(""),
            "show admins": self._op_admins,
            "load config": self._op_load_config,
            "revert config": lambda n: self._op_revert(),
            "validate full": self._op_validate,
        }
        handler = handlers.get(label)
        if handler is None:
            raise ApiError(17, "%s is unexpected" % " -> ".join(path))
        return handler(node)

    def _op_system_info(self, _node):
        now = self._now()
        up = int(now - self._started)
        hostname = self._running.findtext("devices/entry/deviceconfig/system/hostname") or self.hostname
        values = (
            ("hostname", hostname), ("ip-address", "127.0.0.1"), ("public-ip-address", "unknown"),
            ("netmask", "255.0.0.0"), ("default-gateway", "127.0.0.1"), ("is-dhcp", "no"),
            ("ipv6-address", "unknown"), ("ipv6-link-local-address", "fe80::250:56ff:fe00:1/64"),
            ("mac-address", "00:50:56:00:00:01"),
            ("time", time.strftime("%a %b %d %H:%M:%S %Y\n", time.gmtime(now))),
            ("uptime", "%d days, %d:%02d:%02d" % (up // 86400, up % 86400 // 3600, up % 3600 // 60, up % 60)),
            ("devicename", hostname), ("family", self.platform.family), ("model", self.model),
            ("serial", self.serial), ("vm-mac-base", "7C:89:C1:00:00:00"), ("vm-mac-count", "256"),
            ("vm-uuid", "564D0000-0000-0000-0000-000000000001"), ("vm-license", self.platform.name),
            ("vm-cap-tier", "6.5 GB"), ("vm-cpu-count", "2"), ("vm-memory", "6.5GB"), ("vm-mode", "KVM"),
            ("cloud-mode", "non-cloud"), ("sw-version", self.sw_version),
            ("global-protect-client-package-version", "0.0.0"), ("device-dictionary-version", "95-436"),
            ("app-version", "8799-8509"), ("app-release-date", "2024/01/09 17:43:28 PST"),
            ("av-version", "0"), ("threat-version", "8799-8509"), ("wildfire-version", "0"),
            ("url-db", "paloaltonetworks"), ("url-filtering-version", "20240110.20187"),
            ("logdb-version", "10.2.1"), ("platform-family", self.platform.family), ("vpn-disable-mode", "off"),
            ("multi-vsys", "off"), ("ZTP", "Disabled"), ("operational-mode", "normal"),
            ("advanced-routing", "off"), ("device-certificate-status", "None"),
        )
        if self.is_panorama:
            values += (("system-mode", "panorama"),)
        if self.model != "PA-VM":            # only VM-Series report their VM tier and hypervisor
            values = tuple((tag, text) for tag, text in values if not tag.startswith("vm-"))
        result = etree.Element("result")
        system = etree.SubElement(result, "system")
        for tag, text in values:
            etree.SubElement(system, tag).text = text
        return success(result=result)

    def _op_show_config(self, config):
        result = etree.Element("result")
        result.append(copy.deepcopy(config))
        return success(result=result)

    def _op_load_config(self, node):
        source = (node.findtext("from") or "").strip()
        if source != "running-config.xml":
            raise ApiError(17, "load -> config -> from '%s': only running-config.xml is available" % source)
        return self._op_revert()

    def _op_revert(self):
        self._candidate = copy.deepcopy(self._running)
        result = etree.Element("result")
        result.text = "Candidate configuration reverted to the running configuration"
        return success(result=result)

    def _op_admins(self, _node):
        result = etree.Element("result")
        entry = etree.SubElement(etree.SubElement(result, "admins"), "entry")
        for tag, text in (("admin", self.username), ("from", request.remote_addr or "127.0.0.1"),
                          ("type", "Web"), ("start-from", panos_time(self._started)),
                          ("idle-for", "00:00:00s")):
            etree.SubElement(entry, tag).text = text
        etree.SubElement(entry, "self")
        return success(result=result)

    def _op_dynamic_groups(self, node):
        wanted = node.findtext("name")
        if wanted is None and node.find("all") is None:
            raise ApiError(17, "show -> object -> dynamic-address-group is incomplete: give all or name")
        running = self._running
        shared = running.find("shared")
        scopes = [(v.get("name"), v) for v in running.findall("devices/entry/vsys/entry")]
        if shared is not None:
            scopes.append((None, shared))
        registered = inherited_tags(self._registered)    # a range or network passes its tags to what it holds
        result = etree.Element("result")
        groups = etree.SubElement(result, "dyn-addr-grp")
        for vsys, scope in scopes:
            for group in scope.findall("address-group/entry"):
                text = group.findtext("dynamic/filter")
                if text is None or (wanted is not None and group.get("name") != wanted):
                    continue
                try:
                    matches = parse_filter(text)
                except FilterError:
                    matches = matches_nothing      # and the next commit fails
                entry = etree.SubElement(groups, "entry")
                if vsys is not None:
                    etree.SubElement(entry, "vsys").text = vsys
                etree.SubElement(entry, "group-name").text = group.get("name")
                etree.SubElement(entry, "filter").text = text
                members = etree.SubElement(entry, "member-list")
                for where in ([scope, shared] if scope is not shared else [shared]):
                    if where is None:
                        continue
                    for address in where.findall("address/entry"):
                        if matches(members_of(address, "tag")):
                            etree.SubElement(members, "entry", name=address.get("name"), type="address-object")
                for ip in sorted(registered, key=sort_key):
                    if matches(registered[ip]):
                        etree.SubElement(members, "entry", name=ip, type="registered-ip")
        return success(result=result)
