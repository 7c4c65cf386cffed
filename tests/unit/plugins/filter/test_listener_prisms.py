import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.netevents.nutanix.plugins.filter.listener_prisms import listener_prisms

TOKEN = "T" * 40


def test_defaults_and_file_names():
    [dc1, dc2] = listener_prisms([{"name": "dc1", "host": "pc1", "username": "u", "password": "p"},
                                  {"name": "dc-2", "host": "pc2", "port": 9441, "username": "u", "password": "q",
                                   "ca_path": "/ca.pem", "webhook_token": TOKEN, "validate_certs": False}], "/etc/nl/")
    assert dc1 == {"name": "dc1", "host": "pc1", "port": 9440, "username": "u", "password": "p",
                   "validate_certs": True, "ca_path": "", "webhook_token": "", "password_file": "prism_password_dc1",
                   "token_file": "webhook_token_dc1", "ca_file": ""}
    assert (dc2["port"], dc2["validate_certs"], dc2["ca_file"], dc2["webhook_token"]) == (
        9441, False, "/etc/nl/prism-ca-dc-2.pem", TOKEN)


@pytest.mark.parametrize("entries, message", [
    ([{"name": "a", "host": "h", "username": "u", "password": "p", "hots": 1}],
     "listener_prisms[0]: unknown key hots (known: name, host, username, password, port, validate_certs, ca_path, "
     "webhook_token)"),
    ([{"host": "h", "username": "u", "password": ""}], "listener_prisms[0]: missing name, password"),
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
