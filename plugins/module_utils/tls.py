# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How both clients (Prism and PAN-OS) trust a server: one TLS client context, verifying by default."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import ssl


def client_context(validate_certs=True, ca_path=None):
    """The TLS context for talking to a device.

    validate_certs -- False turns verification off (a trusted management network only).
    ca_path        -- a PEM file (a self-signed certificate may be given as is) or a directory of hashed PEM
                      files: then only these CAs are trusted; without it, the system's.
    Raises ValueError, with the reason, when *ca_path* cannot be loaded.
    """
    if not validate_certs:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if not ca_path:
        return ssl.create_default_context()
    try:
        if os.path.isdir(ca_path):
            return ssl.create_default_context(capath=ca_path)
        return ssl.create_default_context(cafile=ca_path)
    except (OSError, ssl.SSLError) as e:
        raise ValueError("cannot load the CA certificates in %s: %s" % (ca_path, e))
