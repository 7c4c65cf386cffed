"""type=user-id: registered-IP tags (register, unregister, timeouts), live at once without a commit, and
`show object registered-ip`. The user-mapping parts of User-ID (login, logout, groups, user tags) are not
modelled: the collection tags IP addresses only.

The platform's limits hold as on a real firewall: at most ``registered_ip_capacity`` registered objects (a range
or a network counts as one), at most 32 tags per object, tag names of 1-127 characters without a comma and not
case-sensitive (``Web`` and ``web`` are one tag, shown as first registered)."""
import ipaddress

from lxml import etree

from tests.simulators.panos.registered import parse_registered, sort_key, tag_key
from tests.simulators.panos.xmlapi import ApiError, parse_xml, success, uint

MAX_TAG_TIMEOUT = 2592000          # seconds (30 days), as documented for registered-IP tags
MAX_REGISTERED_IP_PAGE = 500       # `show object registered-ip` answers at most this many entries per call
MAX_TAGS_PER_IP = 32
MAX_TAG_LENGTH = 127


class UserId(object):
    """Mixin of PanosSimulator: ``self._registered`` (object -> {tag key: [tag as registered, expiry or None]})
    and ``self._persistent``."""

    def _expire_tags(self, now):
        for ip in list(self._registered):
            tags = self._registered[ip]
            for key, (_name, expiry) in list(tags.items()):
                if expiry is not None and expiry <= now:
                    del tags[key]
            if not tags:
                self._forget(ip)

    def _forget(self, ip):
        self._registered.pop(ip, None)
        self._persistent.pop(ip, None)

    def _registered_tags(self, ip):
        """The tag names of a registered object, as first registered."""
        return [name for name, _expiry in self._registered.get(ip, {}).values()]

    @staticmethod
    def _timeout(member):
        text = member.get("timeout")
        if text is None:
            return None, None
        seconds = uint(text)
        if seconds is None or seconds > MAX_TAG_TIMEOUT:
            return None, "timeout '%s' is invalid (0-%d)" % (text.strip(), MAX_TAG_TIMEOUT)
        return seconds, None

    def _user_id(self, params):
        message = parse_xml(params.get("cmd"), "cmd")
        if message.tag != "uid-message":
            raise ApiError(18, "Malformed Request: the User-ID message must be a <uid-message>")
        payload = message.find("payload")
        if payload is None:
            raise ApiError(18, "Malformed Request: <uid-message> has no <payload>")
        handlers = {"register": self._uid_register, "unregister": self._uid_unregister}
        for section in payload:
            if isinstance(section.tag, str) and section.tag not in handlers:
                raise ApiError(18, "Malformed Request: payload -> %s unexpected here" % section.tag)
        now = self._now()
        response = etree.Element("uid-response")
        etree.SubElement(response, "version").text = "2.0"
        answer = etree.SubElement(response, "payload")
        failed = False
        for section in payload:
            if not isinstance(section.tag, str):
                continue
            out = etree.SubElement(answer, section.tag)
            for attrs in handlers[section.tag](section, now):
                etree.SubElement(out, "entry", attrs)
                failed = True
        root = etree.Element("response", status="error" if failed else "success")
        if failed:
            etree.SubElement(etree.SubElement(root, "msg"), "line").append(response)
        else:
            etree.SubElement(root, "result").append(response)
        return root

    def _uid_entries(self, section, problems):
        """(entry, canonical object) of each <entry> of a section; an entry PAN-OS refuses is a problem."""
        for entry in section.findall("entry"):
            found = parse_registered(entry.get("ip"), ranges=self.version_at_least(10, 0))
            if found is None:
                problems.append({"ip": entry.get("ip") or "", "message": "invalid ip address"})
            else:
                yield entry, found.text

    @staticmethod
    def _uid_tags(entry):
        return [(m, (m.text or "").strip()) for m in entry.findall("tag/member")]

    def _uid_register(self, section, now):
        problems = []
        capacity = self.registered_ip_capacity
        for entry, ip in self._uid_entries(section, problems):
            tags = self._uid_tags(entry)
            if not tags:
                problems.append({"ip": ip, "message": "no tag to register"})
                continue
            if ip not in self._registered and len(self._registered) >= capacity:
                # The wording of the firewall's system log when it is full; the API's own is not public.
                problems.append({"ip": ip, "message": "max registered-ip for the platform reached (%d)" % capacity})
                continue
            table = self._registered.setdefault(ip, {})
            for member, tag in tags:
                seconds, error = self._timeout(member)
                if error or not tag or len(tag) > MAX_TAG_LENGTH or "," in tag:
                    problems.append({"ip": ip, "message": error or "tag '%s' is invalid" % tag})
                    continue
                key = tag_key(tag)
                expiry = now + seconds if seconds else None
                if key in table:                   # registering it again refreshes (or removes) the timeout
                    problems.append({"ip": ip, "message": "tag %s already exists, ignore" % tag})
                    table[key][1] = expiry
                elif len(table) >= MAX_TAGS_PER_IP:
                    problems.append({"ip": ip, "message": "tag %s not registered: ip %s already has the maximum "
                                                          "of %d tags" % (tag, ip, MAX_TAGS_PER_IP)})
                else:
                    table[key] = [tag, expiry]
            if self._registered.get(ip):
                persistent = entry.get("persistent")
                if persistent in ("0", "1"):
                    self._persistent[ip] = persistent
            else:
                self._registered.pop(ip, None)
        return problems

    def _uid_unregister(self, section, _now):
        problems = []
        for entry, ip in self._uid_entries(section, problems):
            have = self._registered.get(ip, {})
            if entry.find("tag") is None:      # no <tag>: every tag of that IP
                if not have:
                    problems.append({"ip": ip, "message": "ip %s does not exist, ignore unreg" % ip})
                self._forget(ip)
                continue
            for _member, tag in self._uid_tags(entry):
                if have.pop(tag_key(tag), None) is None:
                    problems.append({"ip": ip, "message": "tag %s does not exist, ignore unreg" % tag})
            if not have:
                self._forget(ip)
        return problems

    @staticmethod
    def _paging(node):
        limit, start = None, 1
        text = node.findtext("limit")
        if text is not None:
            limit = uint(text)
            if limit is None or not 1 <= limit <= MAX_REGISTERED_IP_PAGE:
                raise ApiError(17, "registered-ip -> limit '%s' is invalid (1-%d)" % (text, MAX_REGISTERED_IP_PAGE))
        text = node.findtext("start-point")
        if text is not None:
            start = uint(text)
            if start is None or start < 1:
                raise ApiError(17, "registered-ip -> start-point '%s' is invalid" % text)
        return limit, start

    def _op_registered_ip(self, node):
        """`show object registered-ip`: each object with its own tags (what it inherits from a network or range
        that holds it counts for dynamic address groups, not here)."""
        limit, start = self._paging(node)
        wanted = set(tag_key(e.get("name")) for e in node.findall("tag/entry") if e.get("name") is not None)
        ip_text = node.findtext("ip")
        network = None
        if ip_text is not None:
            try:
                network = ipaddress.ip_network(ip_text.strip(), strict=False)
            except ValueError:
                raise ApiError(17, "registered-ip -> ip '%s' is invalid" % ip_text)
        rows = []
        for ip in sorted(self._registered, key=sort_key):
            if wanted and not wanted & set(self._registered[ip]):
                continue
            if network is not None and not self._within(ip, network):
                continue
            rows.append(ip)
        page = rows[start - 1:start - 1 + limit] if limit else rows[start - 1:]
        result = etree.Element("result")
        for ip in page:
            entry = etree.SubElement(result, "entry", {"ip": ip, "from_agent": "0",
                                                       "persistent": self._persistent.get(ip, "1")})
            tag_element = etree.SubElement(entry, "tag")
            for tag in sorted(self._registered_tags(ip)):
                etree.SubElement(tag_element, "member").text = tag
        etree.SubElement(result, "count").text = str(len(page))
        return success(result=result)

    @staticmethod
    def _within(ip, network):
        found = parse_registered(ip)
        return (found.version == network.version and int(network.network_address) <= found.first
                and found.last <= int(network.broadcast_address))
