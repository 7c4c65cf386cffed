import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.netevents.nutanix.plugins.filter.listener_prisms import listener_prisms

TOKEN = "T" * 40


def test_defaults_and_file_names():
    [dc1, dc2] = listener_prisms([{"name": "dc1", "host": "pc1", "username": "u", "password": "p"},
                                  {"name": "dc-2", "host": "pc2", "port": 9441, "username": "u", "password": "q",
                                   "ca_path": "/ca.pem", "webhook_token": TOKEN, "validate_certs": False}], "/etc/nl/")
    assert dc1 == {"name": "dc1", "host": "pc1", "port": 9440, "username": "u", "password": "p", "api_key": "",
                   "validate_certs": True, "ca_path": "", "webhook_token": "", "source": "both", "api": "auto",
                   "poll_interval_s": 30, "password_file": "prism_password_dc1", "token_file": "webhook_token_dc1",
                   "api_key_file": "prism_api_key_dc1", "ca_file": ""}
    assert (dc2["port"], dc2["validate_certs"], dc2["ca_file"], dc2["webhook_token"]) == (
        9441, False, "/etc/nl/prism-ca-dc-2.pem", TOKEN)


@pytest.mark.parametrize("entries, message", [
    ([{"name": "a", "host": "h", "username": "u", "password": "p", "hots": 1}],
     "listener_prisms[0]: unknown key hots (known: name, host, port, validate_certs, ca_path, webhook_token, "
     "username, password, api_key, source, api, poll_interval_s)"),
    ([{"host": "h", "username": "u", "password": ""}], "listener_prisms[0]: missing name"),
    ([{"name": "a", "host": "h", "username": "u", "password": ""}],
     "listener_prisms[0]: missing username and password, or api_key"),
    ([{"name": "a", "host": "h", "username": "u", "password": "p", "api_key": "k"}],
     "listener_prisms[0]: give username and password, or api_key, not both"),
    ([{"name": "a", "host": "h", "api_key": "k", "source": "pull"}],
     "listener_prisms[0].source: must be one of webhook, poll, both, got 'pull'"),
    ([{"name": "a", "host": "h", "api_key": "k", "poll_interval_s": 2}],
     "listener_prisms[0].poll_interval_s: must be a number of seconds from 5 to 3600"),
    ([{"name": "a/b", "host": "h", "username": "u", "password": "p"}],
     "listener_prisms[0].name: 'a/b' is not a valid Prism name"),
    ([{"name": "dc1", "host": "h", "username": "u", "password": "p"},
      {"name": "DC1", "host": "h2", "username": "u", "password": "p"}],
     "listener_prisms[1].name: 'DC1' is already the name of listener_prisms[0]"),
    ([{"name": "a", "host": "h", "username": "u", "password": "p", "webhook_token": "short-secret"}],
     "listener_prisms[0].webhook_token: must be 32 to 256 letters, digits, - or _"),
    ("dc1", "listener_prisms must be a list"),
])
def test_bad_entries_are_named(entries, message):
    with pytest.raises(AnsibleFilterError) as info:
        listener_prisms(entries, "/etc/nl")
    assert str(info.value).startswith(message)
    assert "short-secret" not in str(info.value)


def test_an_entry_takes_the_role_wide_source_api_and_interval_unless_it_has_its_own():
    defaults = {"source": "poll", "api": "v4", "poll_interval_s": "60"}
    [dc1, dc2] = listener_prisms([{"name": "dc1", "host": "pc1", "api_key": "k"},
                                  {"name": "dc2", "host": "pc2", "username": "u", "password": "p", "source": "both",
                                   "poll_interval_s": 10}], "/etc/nl", defaults)
    assert (dc1["source"], dc1["api"], dc1["poll_interval_s"], dc1["api_key"]) == ("poll", "v4", 60, "k")
    assert (dc2["source"], dc2["api"], dc2["poll_interval_s"]) == ("both", "v4", 10)
