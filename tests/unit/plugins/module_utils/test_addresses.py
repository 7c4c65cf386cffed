import pytest

from ansible_collections.netevents.nutanix.plugins.module_utils.addresses import (
    REASONS, AddressError, firewall_ip, firewall_ips)


@pytest.mark.parametrize("value,normal", [
    ("10.1.1.5", "10.1.1.5"), (" 10.1.1.5\n", "10.1.1.5"), ("2001:DB8::5", "2001:db8::5"),
    ("192.168.1.255", "192.168.1.255"),  # a subnet's broadcast address cannot be told from the address alone
    ("100.64.0.1", "100.64.0.1"), ("fd00::10", "fd00::10"), ("8.8.8.8", "8.8.8.8"),
])
def test_unicast_host_addresses_are_kept_in_one_spelling(value, normal):
    assert firewall_ip(value) == normal


@pytest.mark.parametrize("value,reason", [
    ("fe80::1%eth0", "zone_index"), ("2001:db8::1%2", "zone_index"),
    ("0.0.0.0", "unspecified"), ("0.10.0.1", "unspecified"), ("::", "unspecified"),
    ("127.0.0.1", "loopback"), ("127.1.2.3", "loopback"), ("::1", "loopback"),
    ("224.0.0.251", "multicast"), ("239.1.1.1", "multicast"), ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"), ("240.0.0.1", "broadcast"),
    ("169.254.10.20", "link_local"), ("fe80::1", "link_local"),
    ("::ffff:10.0.0.5", "ipv4_mapped"), ("::ffff:127.0.0.1", "ipv4_mapped"),
    ("10.0.0.0/24", "not_an_ip"), ("10.0.0.300", "not_an_ip"), ("", "not_an_ip"), (None, "not_an_ip"),
    (5, "not_an_ip"), ("\ud800", "not_an_ip"), ("fe80::1%", "not_an_ip"),
])
def test_addresses_a_firewall_should_not_hold_are_refused_with_the_reason(value, reason):
    with pytest.raises(AddressError) as info:
        firewall_ip(value)
    assert info.value.reason == reason and info.value.address == value
    assert str(info.value) == "%r cannot be registered on a firewall: it %s" % (value, REASONS[reason])
    assert isinstance(info.value, ValueError)  # what the modules turn into fail_json


def test_a_list_keeps_the_good_ones_in_order_without_repeats():
    kept, dropped = firewall_ips(["10.0.0.2", "fe80::1%eth0", "10.0.0.1", "10.0.0.2 ", "0.0.0.0", "2001:db8::1"])
    assert kept == ["10.0.0.2", "10.0.0.1", "2001:db8::1"]
    assert [(e.address, e.reason) for e in dropped] == [("fe80::1%eth0", "zone_index"), ("0.0.0.0", "unspecified")]
