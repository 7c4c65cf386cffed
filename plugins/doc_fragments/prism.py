# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The connection options of every module that talks to Prism (the names nutanix.ncp users know).
    DOCUMENTATION = r"""
options:
  nutanix_host:
    description:
      - Host name or IP address of Prism Central or Prism Element.
      - Falls back to the E(NUTANIX_HOST) environment variable.
    type: str
    required: true
  nutanix_port:
    description:
      - HTTPS port of the Prism API.
      - Falls back to the E(NUTANIX_PORT) environment variable.
    type: int
    default: 9440
  nutanix_username:
    description:
      - Prism user the module logs in as (HTTP basic authentication).
      - Required with O(nutanix_password), unless O(nutanix_api_key) is given.
      - Falls back to the E(NUTANIX_USERNAME) environment variable.
    type: str
  nutanix_password:
    description:
      - Password of O(nutanix_username). Never logged nor returned.
      - Falls back to the E(NUTANIX_PASSWORD) environment variable.
    type: str
  nutanix_api_key:
    description:
      - A Prism Central API key (of a service account), sent in the C(X-ntnx-api-key) header instead of
        O(nutanix_username) and O(nutanix_password), which are then not used. Never logged nor returned.
      - Prism Element has no API keys.
      - Falls back to the E(NUTANIX_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Verify Prism's TLS certificate and host name.
      - Prism ships a self-signed certificate. Rather than turning verification off, give that certificate
        (or the CA that signed Prism's certificate) in O(nutanix_ca_path).
      - Set V(false) only on a trusted management network.
      - Falls back to the E(VALIDATE_CERTS) environment variable.
    type: bool
    default: true
  nutanix_ca_path:
    description:
      - A PEM file with the CA certificates that Prism's certificate is verified against, or a directory of
        hashed PEM files; Prism's self-signed certificate may be given as is. Only these CAs are then trusted.
      - Without it, the CAs of the C(requests) library (or of E(REQUESTS_CA_BUNDLE)) are used.
      - Ignored with O(validate_certs=false).
      - Falls back to the E(NUTANIX_CA_PATH) environment variable.
      - C(nutanix.ncp) has no such option; it is named like O(nutanix_host), after the C(ca_path) of
        M(ansible.builtin.uri) and of the C(provider) of the PAN-OS modules.
    type: path
  timeout:
    description:
      - Seconds to wait for Prism to accept a connection and for each answer.
      - Failed connections, HTTP 429 and HTTP 5xx answers are retried 3 times with exponential backoff,
        honouring Prism's C(Retry-After).
    type: int
    default: 30
attributes:
  action_group:
    description: The connection options can be set for the whole group with C(module_defaults).
    support: full
    membership:
      - netevents.nutanix.prism
requirements:
  - requests
notes:
  - The modules run on the controller or wherever the task is delegated to; that host needs HTTPS access
    to Prism. Proxies set with E(HTTPS_PROXY) are honoured.
"""

    # The API that a module reading VMs uses (webhooks exist in v3 only).
    VM_API = r"""
options:
  api:
    description:
      - The Prism API that VMs are read with.
      - V(auto) uses the Prism Central v4 API (C(vmm) v4.0 to v4.3) where Prism serves it, and v3 elsewhere (Prism
        Element, an older Prism Central). Finding out costs one call per v4 namespace read (VMs, categories,
        clusters) on a Prism Central of v4.2 or later, a few more on older ones, and five against a Prism
        without v4; once per task.
      - V(v4) fails where Prism serves no v4; V(v3) never asks for v4.
      - Nutanix deprecates the v3 API from Q4 2026. See C(docs/prism-api.md) for what each API costs.
    type: str
    choices: [auto, v3, v4]
    default: auto
"""
