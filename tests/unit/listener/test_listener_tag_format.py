"""The listener's tag formats may name the Prism Central ({pc}: the prism entry's name) and the VM's cluster
({cluster}); the Prism's name is checked against the format like vm_tag_sync's prism_name (docs/multi-prism.md).
The plugin at work with them: test_listener_multi_prism.py."""
import pytest

from listener_helpers import make_config, write_secret
from netevents_listener import ConfigError
from netevents_listener.config import load_config


def load(tmp_path, tag_format, prism_name=None):
    write_secret(str(tmp_path / "fw_password"), "x-password")
    options = {"targets": [{"ip_address": "fw1", "password_file": "fw_password"}], "tag_format": tag_format}
    prism = {"host": "127.0.0.1", "username": "u", "password_file": "fw_password"}
    if prism_name is not None:
        prism["name"] = prism_name
    return load_config(make_config(tmp_path, plugin={"name": "panos", "options": options}, extra={"prism": prism}))


@pytest.mark.parametrize("tag_format", ["panorama-plugin", "ntnx.CL-{cluster}.{category}.{value}",
                                        "ntnx.{pc}.{category}.{value}"])
def test_pc_and_cluster_are_accepted(tmp_path, tag_format):
    config = load(tmp_path, tag_format)
    assert config.prism.name == "default" and config.plugin.options["tag_format"] == tag_format


def test_a_prism_name_the_format_cannot_own_apart_is_refused(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "panorama-plugin", prism_name="dc.1")
    assert info.value.errors == ["plugin.options: prism: name 'dc.1' may not contain '.', the character after {pc} "
                                 "in tag_format: its tags would start like another Prism's"]
