"""The module skeleton: connection options (as nutanix.ncp and paloaltonetworks.panos users know them), the
missing-provider message, credentials in a URL never echoed, and which errors become fail_json."""
import json

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.testing import patch_module_args
from ansible_collections.netevents.nutanix.plugins.module_utils import base_module
from ansible_collections.netevents.nutanix.plugins.module_utils.base_module import (
    PanosModule, PrismModule, PrismPanosModule)
from ansible_collections.netevents.nutanix.plugins.module_utils.panos import PanosError
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismError

PASSWORD = "S3cret-Pa55"
PRISM = {"nutanix_host": "prism.example.com", "nutanix_username": "u", "nutanix_password": PASSWORD}
ENV = ("NUTANIX_HOST", "NUTANIX_PORT", "NUTANIX_USERNAME", "NUTANIX_PASSWORD", "VALIDATE_CERTS", "NUTANIX_CA_PATH",
       "PANOS_HOSTNAME", "PANOS_USERNAME", "PANOS_PASSWORD", "PANOS_API_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for var in ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def run(capsys):
    def run(module_class, args, spec=None, body=None, **kwargs):
        """Build the module with *args* and run *body(module)*; return (exit code, the JSON it printed)."""
        capsys.readouterr()
        with patch_module_args(args), pytest.raises(SystemExit) as stop:
            module = module_class(spec or {}, **kwargs)
            if body is not None:
                body(module)
            module.exit_json(changed=False)
        return stop.value.code, json.loads(capsys.readouterr().out)
    return run


# --- Prism options ----------------------------------------------------------------------------------------

def test_prism_options_fall_back_to_the_environment(monkeypatch, tmp_path):
    for var, value in (("NUTANIX_HOST", "prism.example.com"), ("NUTANIX_PORT", "9441"), ("NUTANIX_USERNAME", "ops"),
                       ("NUTANIX_PASSWORD", PASSWORD), ("VALIDATE_CERTS", "false"),
                       ("NUTANIX_CA_PATH", str(tmp_path))):
        monkeypatch.setenv(var, value)
    result = ArgumentSpecValidator(base_module.PRISM_OPTIONS).validate({})
    assert result.error_messages == []
    params = result.validated_parameters
    assert params["nutanix_host"] == "prism.example.com" and params["nutanix_port"] == 9441
    assert params["nutanix_username"] == "ops" and params["validate_certs"] is False
    assert params["nutanix_ca_path"] == str(tmp_path)
    assert PASSWORD in result._no_log_values


def test_prism_defaults_required_and_the_client(tmp_path, run):
    missing = ArgumentSpecValidator(base_module.PRISM_OPTIONS).validate({})
    assert any("nutanix_host" in m for m in missing.error_messages)
    clients = []
    code, _out = run(PrismModule, dict(PRISM, nutanix_ca_path=str(tmp_path)),
                     body=lambda module: clients.append(module.prism_client()))
    assert code == 0
    assert clients[0].base_url == "https://prism.example.com:9440" and clients[0].verify == str(tmp_path)


# --- PAN-OS provider --------------------------------------------------------------------------------------

def test_provider_is_compatible_with_paloaltonetworks_panos():
    options = base_module.PROVIDER_OPTIONS
    for key in ("ip_address", "username", "password", "api_key", "port", "serial_number"):
        assert key in options
    assert options["password"]["no_log"] and options["api_key"]["no_log"]
    assert options["username"]["default"] == "admin" and options["port"]["default"] == 443
    assert options["validate_certs"]["default"] is True


def test_scope_options_follow_the_module(run):
    seen = []
    run(PanosModule, {"provider": {"ip_address": "fw"}}, body=lambda m: seen.append(sorted(m.argument_spec)))
    run(PanosModule, {"provider": {"ip_address": "fw"}}, vsys=False, device_group=False,
        body=lambda m: seen.append(sorted(m.argument_spec)))
    assert seen == [["device_group", "provider", "vsys"], ["provider"]]


@pytest.mark.parametrize("args", [{}, {"provider": {"password": PASSWORD}}])
def test_without_provider_the_message_says_what_provider_is(args, run):
    code, out = run(PanosModule, args)
    assert code == 1
    assert out["msg"].startswith("PAN-OS: provider.ip_address is missing. Give provider, a dict with ip_address")
    assert "PANOS_HOSTNAME" in out["msg"] and PASSWORD not in json.dumps(out)


def test_provider_from_the_environment(monkeypatch, run):
    monkeypatch.setenv("PANOS_HOSTNAME", "fw.example.com")
    seen = []
    code, _out = run(PanosModule, {}, body=lambda m: seen.append(m.params["provider"]["ip_address"]))
    assert code == 0 and seen == ["fw.example.com"]


def test_a_module_of_both_has_both(run):
    seen = []
    run(PrismPanosModule, dict(PRISM, provider={"ip_address": "fw"}), body=lambda m: seen.append(m.argument_spec))
    assert {"nutanix_host", "nutanix_ca_path", "provider", "vsys", "device_group"} <= set(seen[0])


# --- what fails how ---------------------------------------------------------------------------------------

def fail_with(exc):
    def body(module):
        with module.failures(jobid=None):
            raise exc
    return body


def test_failures_prefix_api_errors_and_pass_input_errors_as_they_are(run):
    code, out = run(PrismModule, PRISM, body=fail_with(PrismError("no such webhook", status_code=404)))
    assert code == 1 and out["msg"] == "Prism: no such webhook" and out["status_code"] == 404
    code, out = run(PanosModule, {"provider": {"ip_address": "fw"}}, body=fail_with(PanosError("fw refused")))
    assert code == 1 and out["msg"] == "PAN-OS: fw refused" and out["jobid"] is None
    code, out = run(PrismModule, PRISM, body=fail_with(ValueError("name must not be empty")))
    assert code == 1 and out["msg"] == "name must not be empty"


def test_a_bug_of_ours_is_not_reported_as_a_device_problem(run):
    with pytest.raises(KeyError):
        run(PrismModule, PRISM, body=fail_with(KeyError("metadata")))


@pytest.mark.parametrize("url", ["https://hook:Hunter2-pw@listener.example.com/events",
                                 "ftp://hook:Hunter2-pw@listener.example.com/events"])
def test_credentials_in_a_url_option_are_never_echoed(url, run):
    spec = dict(post_url=dict(type="str"), events=dict(type="list", elements="str", required=True))
    # events is missing: AnsibleModule itself refuses the task, and still returns what it was invoked with.
    code, out = run(PrismModule, dict(PRISM, post_url=url), spec=spec, secret_urls=("post_url",))
    text = json.dumps(out)
    assert code == 1 and "missing required arguments: events" in out["msg"]
    assert "Hunter2-pw" not in text and "hook:" not in text
    assert out["invocation"]["module_args"]["post_url"].endswith("@listener.example.com/events")
