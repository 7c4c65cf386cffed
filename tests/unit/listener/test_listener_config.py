"""Configuration: validated at start with every error named by its key; secrets only from files or env vars."""
import os

import pytest
import yaml

from listener_helpers import cli, write_secret
from netevents_listener import ConfigError, Secret
from netevents_listener.config import load_config
from tests.simulators._common import make_self_signed_cert


def write(tmp_path, doc, password_mode=0o600):
    write_secret(str(tmp_path / "pw"), "hunter2-hunter2")
    os.chmod(str(tmp_path / "pw"), password_mode)
    path = tmp_path / "config.yml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return str(path)


def minimal(**override):
    doc = {"listener": {"username": "prism", "password_file": "pw"},
           "plugin": {"name": "log", "options": {"path": "events.jsonl"}},
           "queue": {"path": "queue.db"}}
    for section, values in override.items():
        if values is None:
            doc.pop(section, None)
        else:
            doc.setdefault(section, {}).update(values)
    return doc


def errors(tmp_path, doc, **kwargs):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, doc, **kwargs))
    return info.value.errors


def test_minimal_config_gets_the_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, minimal()))
    lc = config.listener
    assert (lc.host, lc.port, lc.path, lc.max_body_bytes, lc.allowed_networks, lc.tls_cert) == (
        "0.0.0.0", 8080, "/listener/callback", 1048576, [], None)
    q = config.queue
    assert q.path == str(tmp_path / "queue.db")           # relative to the config file
    assert (q.batch_max_events, q.batch_window_ms, q.max_attempts, q.backoff_initial_s, q.backoff_max_s,
            q.dedupe_window_s) == (500, 0, 10, 1.0, 300.0, 300)
    assert config.prism is None and config.reconcile.interval_minutes == 15
    assert config.plugin.options == {"path": "events.jsonl", "fsync": True}
    assert lc.password.reveal() == "hunter2-hunter2"     # the file's final newline is not part of it
    assert "hunter2" not in repr(config) and "hunter2" not in str(lc.password)


def test_unknown_keys_are_named_with_a_suggestion(tmp_path):
    found = errors(tmp_path, minimal(listener={"pasword_file": "pw"}, queue={"max_attempt": 3}, extra={"a": 1}))
    assert "listener.pasword_file: unknown key (did you mean 'password_file'?)" in found
    assert "queue.max_attempt: unknown key (did you mean 'max_attempts'?)" in found
    assert any(e.startswith("extra: unknown key") for e in found)


def test_wrong_types_and_ranges_are_reported_all_at_once(tmp_path):
    found = errors(tmp_path, minimal(listener={"port": "8080", "allowed_networks": ["10.0.0.0/33"],
                                               "max_body_bytes": True},
                                     queue={"batch_window_ms": -1, "backoff_initial_s": "fast"},
                                     prism={"host": "pc", "username": "u", "password_file": "pw",
                                            "validate_certs": "yes"}))
    assert "listener.port: must be an integer, got a string" in found
    assert "listener.allowed_networks[0]: '10.0.0.0/33' is not a network (e.g. 10.0.0.0/24 or 10.0.0.5)" in found
    assert "listener.max_body_bytes: must be an integer, got a boolean" in found
    assert "queue.batch_window_ms: must be between 0 and 60000, got -1" in found
    assert "queue.backoff_initial_s: must be a number, got a string" in found
    assert "prism.validate_certs: must be true or false, got a string" in found
    assert len(found) == 6


def test_prism_ca_path_is_beside_the_config_and_loaded_at_start(tmp_path):
    prism = {"host": "pc", "username": "u", "password_file": "pw"}
    make_self_signed_cert(str(tmp_path))
    assert load_config(write(tmp_path, minimal(prism=dict(prism, ca_path="cert.pem")))).prism.ca_path == str(
        tmp_path / "cert.pem")
    assert load_config(write(tmp_path, minimal(prism=prism))).prism.ca_path is None
    (tmp_path / "not-a-cert.pem").write_text("hello\n")
    for name in ("missing.pem", "not-a-cert.pem"):
        [found] = errors(tmp_path, minimal(prism=dict(prism, ca_path=name)))
        assert found.startswith("prism.ca_path: cannot load the CA certificates in %s: " % (tmp_path / name)), found


def test_missing_required_keys_and_sections(tmp_path):
    found = errors(tmp_path, {"listener": {}, "plugin": {}})
    assert ("listener: missing required username and password_file (basic auth), or path_token_file (a secret in "
            "the URL), or both: the listener does not accept unauthenticated events (a listener that only polls Prism, "
            "prism.source: poll, needs none)") in found
    assert "plugin: missing required name (log, panos, or module:attribute)" in found
    assert "queue: missing required section" in found


def test_inline_secrets_are_refused(tmp_path):
    found = errors(tmp_path, minimal(listener={"password": "in-the-file"}))
    assert any(e.startswith("listener.password: secrets are not accepted in the configuration file") for e in found)


def test_a_secret_file_readable_by_others_is_refused(tmp_path):
    [found] = errors(tmp_path, minimal(), password_mode=0o644)
    assert found.startswith("listener.password_file: %s is readable by group or others (mode 0644)"
                            % (tmp_path / "pw"))


def test_secrets_from_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("NETEVENTS_TEST_PW", "from-the-env")
    doc = minimal()
    doc["listener"] = {"username": "prism", "password_env": "NETEVENTS_TEST_PW"}
    assert load_config(write(tmp_path, doc)).listener.password.reveal() == "from-the-env"
    monkeypatch.delenv("NETEVENTS_TEST_PW")
    assert errors(tmp_path, doc) == [
        "listener.password_env: environment variable NETEVENTS_TEST_PW is not set or empty"]


TOKEN = "kR3v9XzQ1mW7bN5tY2cL8fH4jD6sA0gE-_pU"


def test_a_path_token_alone_or_with_basic_auth(tmp_path):
    write_secret(str(tmp_path / "token"), TOKEN)
    alone = load_config(write(tmp_path, minimal(listener={"username": None, "password_file": None,
                                                          "path_token_file": "token"}))).listener
    assert alone.path_token.reveal() == TOKEN and alone.username is None and alone.password is None
    both = load_config(write(tmp_path, minimal(listener={"path_token_file": "token"}))).listener
    assert both.path_token.reveal() == TOKEN and both.password.reveal() == "hunter2-hunter2"
    assert TOKEN not in repr(both)
    assert load_config(write(tmp_path, minimal())).listener.path_token is None


@pytest.mark.parametrize("listener,message", [
    ({"path_token": TOKEN}, "listener.path_token: secrets are not accepted in the configuration file"),
    ({"path_token_file": "short"}, "listener.path_token_file: must be 32 to 256 URL-safe characters"),
    ({"username": None, "path_token_file": "token"}, "listener: missing required username (basic auth needs it"),
    ({"password_file": None, "path_token_file": "token"}, "listener: missing required password_file"),
])
def test_path_token_mistakes_are_named(tmp_path, listener, message):
    write_secret(str(tmp_path / "token"), TOKEN)
    write_secret(str(tmp_path / "short"), "too-short-" + TOKEN[:8])
    found = errors(tmp_path, minimal(listener=listener))
    assert any(e.startswith(message) for e in found), found
    assert not any(TOKEN in e or TOKEN[:8] in e for e in found)


def test_secrets_inside_plugin_options_become_secret_objects(tmp_path):
    write_secret(str(tmp_path / "key"), "LUFRPT1-api-key")
    doc = minimal(plugin={"name": "listener_test_plugins:ControlledPlugin",
                          "options": {"path": "x", "api_key_file": "key"}})
    config = load_config(write(tmp_path, doc))
    key = config.plugin.options["api_key"]
    assert isinstance(key, Secret) and key.reveal() == "LUFRPT1-api-key"
    assert "LUFRPT1" not in repr(config.plugin.options)


def test_secrets_nested_in_plugin_option_lists_are_resolved_too(tmp_path, monkeypatch):
    # The shape the panos plugin's options take: a list of provider dicts, one secret each.
    write_secret(str(tmp_path / "fw1_key"), "fw1-api-key")
    monkeypatch.setenv("NETEVENTS_TEST_FW2", "fw2-password")
    doc = minimal(plugin={"name": "listener_test_plugins:ControlledPlugin", "options": {"path": "x", "fail_vms": [
        {"ip_address": "fw1", "api_key_file": "fw1_key"},
        {"ip_address": "fw2", "username": "admin", "password_env": "NETEVENTS_TEST_FW2"}]}})
    targets = load_config(write(tmp_path, doc)).plugin.options["fail_vms"]
    assert targets[0]["api_key"].reveal() == "fw1-api-key" and "api_key_file" not in targets[0]
    assert targets[1]["password"].reveal() == "fw2-password" and targets[1]["username"] == "admin"
    doc["plugin"]["options"]["fail_vms"][0]["api_key"] = "inline"
    assert errors(tmp_path, doc)[0].startswith("plugin.options.fail_vms[0].api_key: secrets are not accepted")


def test_tls_needs_both_files_that_match(tmp_path):
    assert errors(tmp_path, minimal(listener={"tls_cert": "cert.pem"})) == [
        "listener: set both tls_cert and tls_key, or neither"]
    (tmp_path / "cert.pem").write_text("not a certificate")
    write_secret(str(tmp_path / "key.pem"), "not a key")
    [found] = errors(tmp_path, minimal(listener={"tls_cert": "cert.pem", "tls_key": "key.pem"}))
    assert found.startswith("listener.tls_cert: the certificate and key cannot be used together")


def test_duplicate_keys_and_bad_yaml(tmp_path):
    [found] = errors(tmp_path, "listener:\n  port: 1\n  port: 2\n")
    assert "duplicate key 'port'" in found
    [found] = errors(tmp_path, "listener: [unclosed\n")
    assert found.startswith("not valid YAML")


def test_plugin_name_and_options_are_checked(tmp_path):
    assert errors(tmp_path, minimal(plugin={"name": "nosuch"})) == [
        "plugin.name: unknown plugin 'nosuch': use log or panos, or module:attribute for a third-party plugin"]
    assert errors(tmp_path, minimal(plugin={"name": "os:path"})) == [
        "plugin.name: os:path is not a subclass of netevents_listener.Plugin"]
    [found] = errors(tmp_path, minimal(plugin={"name": "no_such_module_xyz:Plugin"}))
    assert found.startswith("plugin.name: cannot import plugin module 'no_such_module_xyz'")
    doc = minimal()
    doc["plugin"] = {"name": "log", "options": {"pth": "x"}}
    assert errors(tmp_path, doc) == ["plugin.options: pth: unknown key (did you mean 'path'?)",
                                     "plugin.options: missing required path (the file to write events to)"]


def test_callback_path_must_not_shadow_the_service_endpoints(tmp_path):
    assert errors(tmp_path, minimal(listener={"path": "/healthz"})) == [
        "listener.path: /healthz is reserved for the service itself"]
    assert errors(tmp_path, minimal(listener={"path": "/<x>"})) == [
        "listener.path: must start with '/' and use only letters, digits and . _ ~ - /"]


def test_check_config_command(tmp_path):
    good = cli(write(tmp_path, minimal()), "check-config")
    assert good.returncode == 0, good.stderr
    assert "configuration OK" in good.stdout and "hunter2" not in good.stdout
    bad = cli(write(tmp_path, minimal(listener={"port": 0})), "check-config")
    assert bad.returncode == 78
    assert "listener.port: must be between 1 and 65535, got 0" in bad.stderr
    assert "Traceback" not in bad.stderr
