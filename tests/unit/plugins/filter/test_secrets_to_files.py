import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netevents.nutanix.plugins.filter.secrets_to_files import FilterModule, secrets_to_files


def test_each_secret_becomes_a_file_the_target_names():
    targets = [{"ip_address": "fw1", "port": 8443, "password": "pw-1"},
               {"ip_address": "fw2", "api_key": "key-2", "vsys": "vsys2", "ca_path": "/etc/ca.pem"}]
    result = secrets_to_files(targets, "/etc/l/secrets", "panos")
    assert result["targets"] == [
        {"ip_address": "fw1", "port": 8443, "password_file": "/etc/l/secrets/panos_0_password"},
        {"ip_address": "fw2", "api_key_file": "/etc/l/secrets/panos_1_api_key", "vsys": "vsys2",
         "ca_path": "/etc/ca.pem"}]
    assert result["files"] == [{"name": "panos_0_password", "value": "pw-1"},
                               {"name": "panos_1_api_key", "value": "key-2"}]
    # The input is left as it was (Ansible may template the same variable again).
    assert targets[0]["password"] == "pw-1"


def test_no_secret_stays_in_the_targets():
    targets = [{"ip_address": "fw1", "password": "pw-1", "api_key": "key-1"}]
    result = secrets_to_files(targets, "/s", "panos")
    assert "pw-1" not in repr(result["targets"]) and "key-1" not in repr(result["targets"])
    assert [f["name"] for f in result["files"]] == ["panos_0_password", "panos_0_api_key"]


def test_an_empty_secret_is_left_out_for_the_consumer_to_report():
    result = secrets_to_files([{"ip_address": "fw1", "password": "", "api_key": None}], "/s", "panos")
    assert result == {"targets": [{"ip_address": "fw1"}], "files": []}


def test_other_secret_keys():
    result = secrets_to_files([{"host": "h", "token": "t"}], "/s", "x", keys=["token"])
    assert result == {"targets": [{"host": "h", "token_file": "/s/x_0_token"}],
                      "files": [{"name": "x_0_token", "value": "t"}]}


@pytest.mark.parametrize("targets,prefix", [({"ip_address": "fw1"}, "panos"), (["fw1"], "panos"),
                                            ("fw1", "panos"), ([], "../x"), ([], "")])
def test_wrong_input_is_refused(targets, prefix):
    with pytest.raises(AnsibleFilterError):
        secrets_to_files(targets, "/s", prefix)


def test_registered_under_its_name():
    assert FilterModule().filters()["secrets_to_files"] is secrets_to_files
