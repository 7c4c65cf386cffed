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
      - Host name or IP address of Prism Central or Prism Element (its v3 API).
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
      - Falls back to the E(NUTANIX_USERNAME) environment variable.
    type: str
    required: true
  nutanix_password:
    description:
      - Password of O(nutanix_username). Never logged nor returned.
      - Falls back to the E(NUTANIX_PASSWORD) environment variable.
    type: str
    required: true
  validate_certs:
    description:
      - Verify Prism's TLS certificate and host name.
      - Prism ships a self-signed certificate. Rather than turning verification off, trust the CA that signed
        Prism's certificate (or the self-signed certificate itself) on the host that runs the module, for
        instance with the E(REQUESTS_CA_BUNDLE) environment variable pointing at a PEM file.
      - Set V(false) only on a trusted management network.
      - Falls back to the E(VALIDATE_CERTS) environment variable.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for Prism to accept a connection and for each answer.
      - Failed connections, HTTP 429 and HTTP 5xx answers are retried 3 times with exponential backoff,
        honouring Prism's C(Retry-After).
    type: int
    default: 30
requirements:
  - requests
notes:
  - All modules of this collection that talk to Prism belong to the action group C(prism), so their
    connection options can be set once with C(module_defaults) and C(group/netevents.nutanix.prism).
  - The modules run on the controller or wherever the task is delegated to; that host needs HTTPS access
    to Prism. Proxies set with E(HTTPS_PROXY) are honoured.
"""
