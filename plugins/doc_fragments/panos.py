# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Small fragments that a module lists in extends_documentation_fragment, as paloaltonetworks.panos does:
    # netevents.nutanix.panos (the provider), then .vsys, .device_group and .candidate as it needs them.

    # netevents.nutanix.panos: how to reach the firewall or Panorama.
    DOCUMENTATION = r"""
options:
  provider:
    description:
      - How to reach the firewall or Panorama, as in C(paloaltonetworks.panos), with TLS settings added.
      - Required, with O(provider.ip_address) and O(provider.password) or O(provider.api_key) in it, unless the
        environment gives them (see the keys); the whole dict may then be left out.
    type: dict
    suboptions:
      ip_address:
        description:
          - Host name or IP address of the firewall or Panorama management interface.
          - Required; falls back to the E(PANOS_HOSTNAME) environment variable.
        type: str
      username:
        description:
          - Administrator used to generate an API key; ignored when O(provider.api_key) is given.
          - Falls back to the E(PANOS_USERNAME) environment variable.
        type: str
        default: admin
      password:
        description:
          - Password of O(provider.username); ignored when O(provider.api_key) is given.
          - Falls back to the E(PANOS_PASSWORD) environment variable.
          - One of O(provider.password) and O(provider.api_key) is required.
        type: str
      api_key:
        description:
          - API key to use instead of generating one from O(provider.username) and O(provider.password).
          - Falls back to the E(PANOS_API_KEY) environment variable.
        type: str
      port:
        description:
          - HTTPS port of the management interface.
        type: int
        default: 443
      serial_number:
        description:
          - Serial number of a firewall to configure through Panorama (O(provider.ip_address) is then Panorama).
          - Ignored when O(provider.ip_address) is a firewall.
        type: str
      validate_certs:
        description:
          - Verify the device's TLS certificate and host name.
          - C(paloaltonetworks.panos) never verifies; this collection does by default. Firewalls often carry a
            self-signed management certificate, so give it (or its CA) in O(provider.ca_path), or set
            V(false) only on a trusted management network.
        type: bool
        default: true
      ca_path:
        description:
          - A PEM file (or a directory of hashed PEM files) with the CA certificates that signed the device's
            management certificate; a self-signed certificate may be given as is.
          - Without it the system's trusted CAs are used.
        type: path
attributes:
  action_group:
    description: The provider can be set for the whole group with C(module_defaults).
    support: full
    membership:
      - netevents.nutanix.panos
requirements:
  - pan-os-python
notes:
  - Compatible with the C(provider) of C(paloaltonetworks.panos); O(provider.validate_certs) and
    O(provider.ca_path) are additions.
"""

    # netevents.nutanix.panos.vsys: the virtual system of a firewall.
    VSYS = r"""
options:
  vsys:
    description:
      - The virtual system the objects live in on a firewall. Ignored on Panorama.
    type: str
    default: vsys1
"""

    # netevents.nutanix.panos.device_group: Panorama's device group.
    DEVICE_GROUP = r"""
options:
  device_group:
    description:
      - On Panorama, the device group the objects live in; without it, Panorama's shared objects.
      - Not allowed when O(provider.ip_address) is a firewall.
    type: str
"""

    # netevents.nutanix.panos.candidate: modules that change the candidate configuration.
    CANDIDATE = r"""
attributes:
  check_mode:
    description: Reports what would change without changing the candidate configuration.
    support: full
  diff_mode:
    description: Shows the object's settings that the task manages, before and after.
    support: full
notes:
  - The change is made in the candidate configuration and is not live until committed. Make all your tag,
    address group and rule changes first, then commit once at the end with M(netevents.nutanix.panos_commit).
"""
