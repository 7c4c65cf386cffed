import base64
import ipaddress

from ansible_collections.netevents.nutanix.plugins.module_utils.webhook_auth import (
    authorization_matches, client_ip, credentials_match, is_json, source_allowed)


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
