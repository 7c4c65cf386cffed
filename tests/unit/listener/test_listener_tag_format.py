"""The listener refuses tag formats naming the Prism Central or the cluster until it can fill them in (one Prism
per listener today, and events built from payloads do not carry the cluster to the plugin yet)."""
import pytest

from listener_helpers import make_config, write_secret
from netevents_listener import ConfigError
from netevents_listener.config import load_config


@pytest.mark.parametrize("tag_format, named", [
    ("panorama-plugin", "{cluster}, {pc}"), ("ntnx.CL-{cluster}.{category}.{value}", "{cluster}")])
def test_pc_and_cluster_are_refused_for_now(tmp_path, tag_format, named):
    write_secret(str(tmp_path / "fw_password"), "x-password")
    options = {"targets": [{"ip_address": "fw1", "password_file": "fw_password"}], "tag_format": tag_format}
    with pytest.raises(ConfigError) as info:
        load_config(make_config(tmp_path, plugin={"name": "panos", "options": options}, extra={
            "prism": {"host": "127.0.0.1", "username": "u", "password_file": "fw_password"}}))
    assert info.value.errors == ["plugin.options: tag_format: %s: not supported by the listener yet; vm_tag_sync "
                                 "takes them" % named]
