"""Rule placement: when a rule already sits where asked, and where a move puts it."""
import pytest

from ansible_collections.netevents.nutanix.plugins.modules.panos_security_rule import in_place, moved_order

ORDER = ["a", "b", "c", "d"]


@pytest.mark.parametrize("name,location,ref,expected", [
    ("a", "top", None, True), ("b", "top", None, False),
    ("d", "bottom", None, True), ("c", "bottom", None, False),
    ("b", "before", "c", True), ("a", "before", "c", False), ("d", "before", "c", False),
    ("c", "after", "b", True), ("d", "after", "b", False), ("a", "after", "b", False),
])
def test_in_place(name, location, ref, expected):
    assert in_place(ORDER, name, location, ref) is expected


@pytest.mark.parametrize("name,location,ref", [
    ("c", "top", None), ("a", "bottom", None), ("d", "before", "b"), ("a", "after", "c"), ("a", "before", "d"),
    ("d", "after", "a"),
])
def test_moved_order_puts_the_rule_in_place(name, location, ref):
    order = moved_order(ORDER, name, location, ref)
    assert sorted(order) == sorted(ORDER)
    assert in_place(order, name, location, ref)
