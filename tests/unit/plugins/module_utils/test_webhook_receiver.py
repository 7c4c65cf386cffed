import base64
import ipaddress
import json

import pytest

from tests.unit.webhook_requests import BAD_BODIES, BAD_IDS
from ansible_collections.netevents.nutanix.plugins.module_utils.webhook_receiver import (
    DEFAULT_PATH, IGNORED, Refused, Screen, auth_scheme, authorization_matches, client_ip, credentials_match, is_json,
    mask_path_token, network, path_problem, path_token_in, path_token_problem, source_allowed, text_problem,
    username_problem)


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
    assert path_token_problem("A" * 32) is None and path_token_problem("a-_9" * 64) is None
    for bad in ("A" * 31, "A" * 257, "A" * 31 + "/", "A" * 31 + "%", "A" * 31 + "\u00e9"):
        assert "URL-safe" in path_token_problem(bad)
    with pytest.raises(ValueError, match="needs basic credentials, a bearer token or a path token"):
        Screen()


SCREEN = Screen(username="prism", password="s3cret", networks=[ipaddress.ip_network("10.0.0.0/24")], max_body=1024,
                realm="test")
P = DEFAULT_PATH
GOOD_HEAD = ("10.0.0.7", P, basic("prism", "s3cret"), 10, "application/json")


def refusal(call, *args):
    with pytest.raises(Refused) as info:
        call(*args)
    return info.value.status, info.value.reason


@pytest.mark.parametrize("head,expected", [
    (("10.0.1.7", P, None, 10**9, "text/plain"), (403, "source_not_allowed")),  # the first check that fails wins
    (("10.0.0.7", P, basic("prism", "x"), 10**9, "text/plain"), (401, "unauthorized")),
    (("10.0.0.7", P, basic("prism", "s3cret"), 1025, "text/plain"), (413, "body_too_large")),
    (("10.0.0.7", P, basic("prism", "s3cret"), None, "text/plain"), (415, "not_json")),
])
def test_the_head_is_checked_in_order(head, expected):
    assert refusal(SCREEN.check_head, *head) == expected


def test_the_challenge_names_the_scheme_the_screen_takes():
    with pytest.raises(Refused) as info:
        SCREEN.check_head("10.0.0.7", P, None, 10, "application/json")
    assert info.value.headers == {"WWW-Authenticate": 'Basic realm="test", charset="UTF-8"'}
    assert info.value.body() == {"error": "unauthorized", "message": "missing or wrong credentials"}
    assert info.value.details == {"auth_scheme": "none"}
    assert Screen(token="t").challenge.startswith("Bearer ")
    assert Screen(path_token=TOKEN).challenge is None  # nothing a client could answer a challenge with
    SCREEN.check_head(*GOOD_HEAD)


TOKEN = "Zq7fM2xK9pL4vR8sT1wY6bN3cH5jD0aE-_uG"


def test_auth_scheme_names_what_a_request_carried_never_its_value():
    assert [auth_scheme(h) for h in (None, "", "  ", basic("a", "b"), "bearer x", "Digest u=1", "s3cret")] == [
        "none", "none", "none", "basic", "bearer", "other", "other"]


@pytest.mark.parametrize("path,state", [
    (P, "missing"), (P + "/", "missing"), (P + "/" + TOKEN[:-1], "wrong"), (P + "/" + TOKEN + "x", "wrong"),
    (P + "/" + TOKEN + "/", "wrong"), (P + "/x/" + TOKEN, "wrong"), ("/elsewhere/" + TOKEN, "missing"),
    (P + "/" + TOKEN, "ok"),
])
def test_a_path_token_alone(path, state):
    screen = Screen(path_token=TOKEN, realm="test")
    head = ("10.0.0.7", path, None, 10, "application/json")
    if state == "ok":
        screen.check_head(*head)
        return
    with pytest.raises(Refused) as info:
        screen.check_head(*head)
    assert (info.value.status, info.value.reason) == (401, "unauthorized")
    assert info.value.details == {"auth_scheme": "none", "path_token": state} and info.value.headers == {}
    assert TOKEN not in str(info.value.details) + info.value.message


def test_every_configured_method_is_required():
    screen = Screen(username="prism", password="s3cret", path_token=TOKEN)
    screen.check_head("10.0.0.7", P + "/" + TOKEN, basic("prism", "s3cret"), 10, "application/json")
    for path, header, details in [
            (P, basic("prism", "s3cret"), {"auth_scheme": "basic", "path_token": "missing"}),
            (P + "/" + TOKEN, None, {"auth_scheme": "none", "path_token": "ok"}),
            (P + "/" + TOKEN, "Bearer " + TOKEN, {"auth_scheme": "bearer", "path_token": "ok"}),
            (P + "/nope", basic("prism", "x"), {"auth_scheme": "basic", "path_token": "wrong"})]:
        with pytest.raises(Refused) as info:
            screen.check_head("10.0.0.7", path, header, 10, "application/json")
        assert info.value.status == 401 and info.value.details == details
        assert info.value.headers["WWW-Authenticate"].startswith("Basic ")
    # allowed_networks still comes first.
    networks = [ipaddress.ip_network("10.0.0.0/24")]
    assert refusal(Screen(path_token=TOKEN, networks=networks).check_head, "10.9.0.7", P + "/" + TOKEN, None, 10,
                   "application/json") == (403, "source_not_allowed")


def test_no_path_under_the_callback_path_is_logged():
    screen = Screen(path_token=TOKEN)
    assert screen.loggable_path(P + "/" + TOKEN) == P + "/********"
    assert screen.loggable_path(P + "/guess/more") == P + "/********"
    assert screen.loggable_path(P) == P and screen.loggable_path("/healthz") == "/healthz"


@pytest.mark.parametrize("url,masked", [
    ("https://l:8443/listener/callback/" + TOKEN, "https://l:8443/listener/callback/********"),
    ("http://l/e/" + TOKEN + "?x=1#f", "http://l/e/********?x=1#f"),
    ("https://l:8443/listener/callback", None), ("https://l/" + TOKEN[:31], None), ("https://l/" + TOKEN + "/", None),
    ("https://l/" + TOKEN + ".json", None), (None, None),
])
def test_what_the_webhook_modules_mask_in_a_post_url(url, masked):
    assert mask_path_token(url) == (masked or url)
    assert (path_token_in(url) is not None) == (masked is not None)


@pytest.mark.parametrize("body,reason", BAD_BODIES, ids=BAD_IDS)
def test_the_body_is_checked(body, reason):
    screen = Screen(username="prism", password="s3cret", max_body=len(body) + 1024)
    assert refusal(screen.check_body, body) == (400, reason)
    assert refusal(SCREEN.check_body, b" " * 1025) == (413, "body_too_large")


def test_a_body_shorter_than_its_content_length_is_incomplete():
    body = json.dumps({"event_type": "VM.ON", "entity_reference": {"uuid": "u1"}, "data": {}}).encode()
    assert SCREEN.check_body(body, len(body))[1].vm_uuid == "u1"
    assert refusal(SCREEN.check_body, body, len(body) + 1) == (400, "incomplete_body")


@pytest.mark.parametrize("raw,field", [
    ('{"event_type": "VM.ON", "entity_reference": {"uuid": "\\ud800"}, "data": {}}', "entity_reference.uuid"),
    ('{"event_type": "VM.ON", "entity_reference": {"uuid": "u"}, "data": {"metadata": {"spec": {"name": '
     '"web\\udfff"}}}}', "data.metadata.spec.name"),
    ('{"event_type": "VM.ON", "entity_reference": {"uuid": "u"}, "data": {"metadata": {"metadata": {"categories": '
     '{"App\\ud800": "x"}}}}}', 'data.metadata.metadata.categories["App\\ud800"]'),
    ('{"event_type": "VM.ON", "entity_reference": {"uuid": "u"}, "data": {"nic_list": [{"ip": "1"}, '
     '{"ip": "\\ud83d"}]}}', "data.nic_list[1].ip"),
    ('"\\udc00"', "the body"),
])
def test_text_that_is_not_unicode_is_refused_naming_the_field(raw, field):
    with pytest.raises(Refused) as info:
        SCREEN.check_body(raw.encode())
    assert (info.value.status, info.value.reason, info.value.details) == (400, "invalid_text", {"field": field})
    assert info.value.message.startswith(field + " is not valid Unicode text")
    json.dumps(info.value.body()).encode("ascii")  # the answer and the log line can be written


def test_text_problem_finds_nothing_in_good_text_and_survives_deep_nesting():
    assert text_problem(json.loads('{"name": "\\ud83d\\ude00 \\u0000 caf\\u00e9", "n": [1, null, 2.5]}')) is None
    deep = json.loads("[" * 500 + '"\\ud800"' + "]" * 500)
    assert text_problem(deep) == "[0]" * 500


def test_a_good_body_gives_the_document_and_the_event():
    body = {"event_type": "VM.NEW", "entity_reference": {"kind": "vm", "uuid": "u1"}, "data": {}}
    document, event = SCREEN.check_body(json.dumps(body).encode())
    assert document == body and event.vm_uuid == "u1" and not event.known_event
    assert IGNORED == {"status": "ignored", "reason": "unknown event type"}
    assert Screen.incomplete().status == 400
