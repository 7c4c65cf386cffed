# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The skeleton of every module of this collection, as nutanix.ncp's BaseModule: a module passes its own
argument spec only.

PrismModule adds the nutanix_* connection options (and ``api`` when the module reads VMs) and gives a PrismClient;
PanosModule adds ``provider`` (with
``vsys`` and ``device_group`` when the module has them) and connects. Both check the library they need, turn the
clients' errors into ``fail_json`` with a ``Prism:`` or ``PAN-OS:`` prefix (and an input ValueError into a plain
message), and add the diff in diff mode. A module that talks to both (vm_tag_sync) is a PrismPanosModule.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_utils
from ansible_collections.netevents.nutanix.plugins.module_utils import prism as prism_utils
from ansible_collections.netevents.nutanix.plugins.module_utils.webhook_receiver import path_token_in

PRISM_OPTIONS = dict(
    nutanix_host=dict(type="str", required=True, fallback=(env_fallback, ["NUTANIX_HOST"])),
    nutanix_port=dict(type="int", default=9440, fallback=(env_fallback, ["NUTANIX_PORT"])),
    nutanix_username=dict(type="str", fallback=(env_fallback, ["NUTANIX_USERNAME"])),
    nutanix_password=dict(type="str", no_log=True, fallback=(env_fallback, ["NUTANIX_PASSWORD"])),
    nutanix_api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["NUTANIX_API_KEY"])),
    validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["VALIDATE_CERTS"])),
    nutanix_ca_path=dict(type="path", fallback=(env_fallback, ["NUTANIX_CA_PATH"])),
    timeout=dict(type="int", default=30),
)
# Which Prism API a module that reads VMs uses (webhooks are v3 only): the netevents.nutanix.prism.vm_api fragment.
PRISM_API_OPTION = dict(type="str", choices=list(prism_utils.API_CHOICES), default="auto")

# As in paloaltonetworks.panos, plus TLS settings. ip_address is checked by PanosModule rather than marked
# required: AnsibleModule's "missing required arguments: ip_address found in provider" does not tell a user
# who left provider out what it is.
PROVIDER_OPTIONS = dict(
    ip_address=dict(type="str", fallback=(env_fallback, ["PANOS_HOSTNAME"])),
    username=dict(type="str", default="admin", fallback=(env_fallback, ["PANOS_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["PANOS_PASSWORD"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["PANOS_API_KEY"])),
    port=dict(type="int", default=443),
    serial_number=dict(type="str"),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
)
MISSING_PROVIDER = ("provider.ip_address is missing. Give provider, a dict with ip_address (the management address "
                    "of the firewall or Panorama) and password or api_key, as in paloaltonetworks.panos; or set "
                    "PANOS_HOSTNAME and PANOS_PASSWORD (or PANOS_API_KEY) in the environment")


class NeteventsModule(AnsibleModule):
    """An AnsibleModule with check mode, the connection options of its kind, and the collection's failures.

    Subclasses add their connection options (connection_spec) and library checks (check_libraries), calling
    super() so that a module talking to two APIs gets both.
    """

    def __init__(self, argument_spec, secret_urls=(), **kwargs):
        """secret_urls -- options holding a URL that must carry no credentials (see _load_params)."""
        self._secret_urls = tuple(secret_urls)
        spec = self.connection_spec()
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        super(NeteventsModule, self).__init__(argument_spec=spec, **kwargs)
        self.check_libraries()

    def connection_spec(self):
        return {}

    def check_libraries(self):
        pass

    def _load_params(self):
        # A user:password@ in a URL option is refused later, but AnsibleModule echoes every option it was given
        # in the result's invocation (shown at -vvv), also when it refuses an option: make the credentials a
        # no_log value before anything is validated, logged or returned. So is a path token (a receiver's secret
        # as the URL's last segment), which is kept.
        super(NeteventsModule, self)._load_params()
        for option in self._secret_urls:
            value = self.params.get(option)
            netloc = urlsplit(value).netloc if isinstance(value, str) else ""
            userinfo = netloc.rpartition("@")[0]
            password = userinfo.partition(":")[2]
            self.no_log_values.update(secret for secret in (userinfo, password, path_token_in(value)) if secret)

    @contextlib.contextmanager
    def failures(self, **result):
        """fail_json (with *result*) for the collection's errors raised in the block; anything else is a bug of
        ours and stays one."""
        try:
            yield
        except prism_utils.PrismError as e:
            self.fail_json(msg="Prism: %s" % e, status_code=e.status_code, reason=e.reason, **result)
        except panos_utils.PanosError as e:
            self.fail_json(msg="PAN-OS: %s" % e, **result)
        except ValueError as e:  # the task's input: our validators raise ValueError with a message for the user
            self.fail_json(msg=str(e), **result)

    def done(self, changed, diff=None, **result):
        """exit_json, with the diff (a dict with before and after) in diff mode."""
        if diff is not None and self._diff:
            result["diff"] = diff
        self.exit_json(changed=changed, **result)


class PrismModule(NeteventsModule):
    """A module that talks to Prism: the nutanix_* options (the netevents.nutanix.prism doc fragment), and
    ``api`` with *vm_api* (netevents.nutanix.prism.vm_api)."""

    def __init__(self, argument_spec, vm_api=False, **kwargs):
        self._vm_api = vm_api
        super(PrismModule, self).__init__(argument_spec, **kwargs)
        p = self.params
        # Checked here, not by required_*: AnsibleModule's "one of the following is required" names no remedy.
        if not p["nutanix_api_key"] and not (p["nutanix_username"] and p["nutanix_password"] is not None):
            self.fail_json(msg="Prism: %s" % prism_utils.MISSING_CREDENTIALS)

    def connection_spec(self):
        spec = super(PrismModule, self).connection_spec()
        spec.update((key, dict(value)) for key, value in PRISM_OPTIONS.items())
        if self._vm_api:
            spec["api"] = dict(PRISM_API_OPTION)
        return spec

    def check_libraries(self):
        super(PrismModule, self).check_libraries()
        if not prism_utils.HAS_REQUESTS:
            self.fail_json(msg=missing_required_lib("requests"), exception=prism_utils.REQUESTS_IMPORT_ERROR)

    def prism_client(self):
        p = self.params
        return prism_utils.PrismClient(p["nutanix_host"], port=p["nutanix_port"], username=p["nutanix_username"],
                                       password=p["nutanix_password"], api_key=p["nutanix_api_key"],
                                       api=p.get("api") or "auto", validate_certs=p["validate_certs"],
                                       ca_path=p["nutanix_ca_path"], timeout=p["timeout"])


class PanosModule(NeteventsModule):
    """A module that talks to a firewall or Panorama: provider, and vsys / device_group where objects live
    (the netevents.nutanix.panos, .vsys and .device_group doc fragments)."""

    def __init__(self, argument_spec, vsys=True, device_group=True, **kwargs):
        self._scope = dict(vsys=vsys, device_group=device_group)
        super(PanosModule, self).__init__(argument_spec, **kwargs)
        if not self.params["provider"].get("ip_address"):
            self.fail_json(msg="PAN-OS: %s" % MISSING_PROVIDER)

    def connection_spec(self):
        spec = super(PanosModule, self).connection_spec()
        options = dict((key, dict(value)) for key, value in PROVIDER_OPTIONS.items())
        spec["provider"] = dict(type="dict", options=options, apply_defaults=True)
        if self._scope["vsys"]:
            spec["vsys"] = dict(type="str", default="vsys1")
        if self._scope["device_group"]:
            spec["device_group"] = dict(type="str")
        return spec

    def check_libraries(self):
        super(PanosModule, self).check_libraries()
        if not panos_utils.HAS_PANOS:
            self.fail_json(msg=missing_required_lib("pan-os-python"), exception=panos_utils.PANOS_IMPORT_ERROR)

    def panos_connect(self):
        """Where the objects live: a Firewall (at vsys), a Panorama, or a Panorama DeviceGroup."""
        return panos_utils.connect(self.params["provider"], vsys=self.params.get("vsys") or "vsys1",
                                   device_group=self.params.get("device_group"))


class PrismPanosModule(PrismModule, PanosModule):
    """A module that reads Prism and writes PAN-OS."""
