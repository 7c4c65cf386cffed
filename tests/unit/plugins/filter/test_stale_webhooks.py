import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netevents.nutanix.plugins.filter.stale_webhooks import FilterModule, stale_webhooks

PREFIX = "netevents.nutanix listener on "
LISTENERS = [{"host": "lis-c", "name": "netevents-listener-lis-c", "post_url": "http://10.0.0.5:8080/listener/callback"},
             {"host": "lis-b", "name": "netevents-listener-lis-b", "post_url": "https://10.0.0.6:8443/events"}]
INVENTORY = ["lis-b", "lis-c", "lis-d"]


def hook(name, post_url, description=None, uuid=None):
    return {"uuid": uuid or "uuid-" + name, "name": name, "post_url": post_url, "description": description}


def names(found):
    return [h["name"] for h in found]


def test_the_listeners_own_webhooks_are_not_stale():
    hooks = [hook("netevents-listener-lis-c", LISTENERS[0]["post_url"], PREFIX + "lis-c"),
             hook("netevents-listener-lis-b", LISTENERS[1]["post_url"], PREFIX + "lis-b")]
    assert stale_webhooks(hooks, LISTENERS, INVENTORY, PREFIX) == []


def test_a_renamed_host_leaves_a_webhook_to_the_same_listener():
    old = hook("netevents-listener-lis-a", "http://10.0.0.5:8080/listener/callback", PREFIX + "lis-a", "u-1")
    assert stale_webhooks([old], LISTENERS, INVENTORY, PREFIX) == [{
        "uuid": "u-1", "name": "netevents-listener-lis-a", "endpoint": "http://10.0.0.5:8080",
        "reasons": ["delivers to the listener of lis-c, whose webhook is netevents-listener-lis-c",
                    "its description names lis-a, a host the inventory does not have"]}]


def test_a_retired_host_at_another_address_is_found_by_its_description():
    gone = hook("netevents-listener-lis-a", "http://10.0.0.9:8080/listener/callback", PREFIX + "lis-a")
    assert [h["reasons"] for h in stale_webhooks([gone], LISTENERS, INVENTORY, PREFIX)] == [
        ["its description names lis-a, a host the inventory does not have"]]


def test_a_second_webhook_for_a_listener_of_the_run():
    # listener_webhook_name changed: the old name still describes the same host.
    renamed = hook("old-name", "http://10.0.0.9:1/x", PREFIX + "lis-b")
    assert [h["reasons"] for h in stale_webhooks([renamed], LISTENERS, INVENTORY, PREFIX)] == [
        ["its description names lis-b, whose webhook is netevents-listener-lis-b"]]


@pytest.mark.parametrize("url", [
    "http://10.0.0.5:8080/listener/callback/",
    "http://10.0.0.5:8080/listener/callback/a-path-token",
    "HTTP://10.0.0.5:8080/listener/callback",
    "https://10.0.0.6:8443/events/x",
])
def test_what_counts_as_delivering_to_a_listener(url):
    assert names(stale_webhooks([hook("manual", url)], LISTENERS, INVENTORY, PREFIX)) == ["manual"]


@pytest.mark.parametrize("url", [
    "http://10.0.0.5:8081/listener/callback",      # another port
    "https://10.0.0.5:8080/listener/callback",     # another scheme
    "http://10.0.0.7:8080/listener/callback",      # another host
    "http://10.0.0.5:8080/listener/callbackx",     # a path that only starts alike
    "http://10.0.0.5:8080/other",
    "not a url", "", None,
])
def test_somebody_elses_webhooks_are_left_alone(url):
    # No description of the role's either: nothing says it is a listener's.
    assert stale_webhooks([hook("other", url, "somebody else's")], LISTENERS, INVENTORY, PREFIX) == []


def test_a_host_of_the_inventory_outside_the_run_is_not_stale():
    # deploy_listener --limit lis-c: lis-d's webhook is lis-d's business.
    other = hook("netevents-listener-lis-d", "http://10.0.0.8:8080/listener/callback", PREFIX + "lis-d")
    assert stale_webhooks([other], LISTENERS, INVENTORY, PREFIX) == []


def test_default_ports_and_a_token_in_the_path_never_reach_the_output():
    listeners = [{"host": "h", "name": "n", "post_url": "https://l.example.com/cb"}]
    found = stale_webhooks([hook("x", "https://l.example.com:443/cb/s3cret-token")], listeners, ["h"], PREFIX)
    assert found[0]["endpoint"] == "https://l.example.com:443"
    assert "s3cret" not in repr(found)


def test_sorted_by_name_and_another_prefix():
    hooks = [hook("b", "http://x:1/", "mine on gone"), hook("a", "http://y:1/", "mine on gone2")]
    found = stale_webhooks(hooks, [], ["h"], description_prefix="mine on ")
    assert names(found) == ["a", "b"]
    assert stale_webhooks(hooks, [], ["h"], PREFIX) == []


@pytest.mark.parametrize("webhooks,listeners,inventory,prefix", [
    ({"name": "x"}, [], [], PREFIX), (["x"], [], [], PREFIX), ([], "lis-a", [], PREFIX), ([], [], "lis-a", PREFIX),
    ([], [], [], ""), ([], [], [], None)])
def test_wrong_input_is_a_filter_error(webhooks, listeners, inventory, prefix):
    with pytest.raises(AnsibleFilterError, match="stale_webhooks"):
        stale_webhooks(webhooks, listeners, inventory, prefix)


def test_the_filter_is_exported():
    assert FilterModule().filters()["stale_webhooks"] is stale_webhooks
