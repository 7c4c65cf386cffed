import base64
import ipaddress
import json

import pytest

from tests.unit.webhook_requests import BAD_BODIES, BAD_IDS
from ansible_collections.netevents.nutanix.plugins.module_utils.webhook_receiver import (
    IGNORED, Refused, Screen, authorization_matches, client_ip, credentials_match, is_json, network, path_problem,
    source_allowed, username_problem)


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def test_source_allowed():
    nets = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("fd00::/64")]
    assert source_allowed("10.0.0.7", nets) and source_allowed("::ffff:10.0.0.7", nets)
    assert source_allowed("fd00::1%eth0", nets)
    assert not source_allowed("10.0.1.7", nets) and not source_allowed("not-an-ip", nets)
    assert not source_allowed(None, nets) and source_allowed("192.0.2.1", [])
    assert client_ip("garbage") is None


def test_is_json():
    assert is_json("application/json") and is_json("Application/JSON") and is_json("application/cloudevents+json")
    assert not is_json("text/plain") and not is_json(None) and not is_json("application/jsonp")


def test_credentials():
    assert credentials_match("prism", "s3cret", "prism", "s3cret")
    assert not credentials_match("prism", "wrong", "prism", "s3cret")
    assert not credentials_match("other", "s3cret", "prism", "s3cret")
    assert not credentials_match(None, None, None, None)


def test_authorization_header():
    assert authorization_matches(basic("prism", "pa:ss"), username="prism", password="pa:ss")
    assert not authorization_matches(basic("prism", "nope"), username="prism", password="pa:ss")
    assert not authorization_matches("Basic !!!notbase64", username="prism", password="x")
    assert not authorization_matches(basic("prism", "pa:ss"), token="t0ken")  # basic not configured
    assert authorization_matches("Bearer t0ken", token="t0ken")
    assert not authorization_matches("Bearer other", token="t0ken")
    assert not authorization_matches(None, username="prism", password="x", token="t0ken")


def test_settings_rules():
    assert path_problem("/listener/callback") is None and "must start with '/'" in path_problem("/<x>")
    assert username_problem("prism") is None and "':'" in username_problem("a:b")
    assert str(network(" 10.0.1.5 ")) == "10.0.1.5/32"
    with pytest.raises(ValueError, match="is not a network"):
        network("10.0.0.300/24")


SCREEN = Screen(username="prism", password="s3cret", networks=[ipaddress.ip_network("10.0.0.0/24")], max_body=1024,
                realm="test")
GOOD_HEAD = ("10.0.0.7", basic("prism", "s3cret"), 10, "application/json")


def refusal(call, *args):
    with pytest.raises(Refused) as info:
        call(*args)
    return info.value.status, info.value.reason


@pytest.mark.parametrize("head,expected", [
    (("10.0.1.7", None, 10**9, "text/plain"), (403, "source_not_allowed")),  # the first check that fails wins
    (("10.0.0.7", basic("prism", "x"), 10**9, "text/plain"), (401, "unauthorized")),
    (("10.0.0.7", basic("prism", "s3cret"), 1025, "text/plain"), (413, "body_too_large")),
    (("10.0.0.7", basic("prism", "s3cret"), None, "text/plain"), (415, "not_json")),
])
def test_the_head_is_checked_in_order(head, expected):
    assert refusal(SCREEN.check_head, *head) == expected


def test_the_challenge_names_the_scheme_the_screen_takes():
    with pytest.raises(Refused) as info:
        SCREEN.check_head("10.0.0.7", None, 10, "application/json")
    assert info.value.headers == {"WWW-Authenticate": 'Basic realm="test", charset="UTF-8"'}
    assert info.value.body() == {"error": "unauthorized", "message": "missing or wrong credentials"}
    assert Screen(token="t").challenge.startswith("Bearer ")
    SCREEN.check_head(*GOOD_HEAD)


@pytest.mark.parametrize("body,reason", BAD_BODIES, ids=BAD_IDS)
def test_the_body_is_checked(body, reason):
    screen = Screen(username="prism", password="s3cret", max_body=len(body) + 1024)
    assert refusal(screen.check_body, body) == (400, reason)
    assert refusal(SCREEN.check_body, b" " * 1025) == (413, "body_too_large")


def test_a_good_body_gives_the_document_and_the_event():
    body = {"event_type": "VM.NEW", "entity_reference": {"kind": "vm", "uuid": "u1"}, "data": {}}
    document, event = SCREEN.check_body(json.dumps(body).encode())
    assert document == body and event.vm_uuid == "u1" and not event.known_event
    assert IGNORED == {"status": "ignored", "reason": "unknown event type"}
    assert Screen.incomplete().status == 400
