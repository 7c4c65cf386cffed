# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks every Prism webhook receiver makes, shared by the listener and the EDA event source.

Standard library only, framework-free: each receiver maps the answers to its own HTTP responses, so both refuse
the same requests for the same reasons (403 source, 401 credentials, 415 not JSON).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hmac
import ipaddress


def client_ip(remote_addr):
    """The peer's address, or None when it is not one; IPv4-mapped IPv6 peers count as IPv4."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; match them against IPv4 networks.
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def source_allowed(remote_addr, networks):
    """True when *networks* (ip_network objects) is empty or holds the peer's address."""
    if not networks:
        return True
    ip = client_ip(remote_addr)
    return ip is not None and any(ip in net for net in networks)


def is_json(mimetype):
    mimetype = (mimetype or "").lower()
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _same(given, expected):
    return hmac.compare_digest((given or "").encode("utf-8"), (expected or "").encode("utf-8"))


def credentials_match(username, password, expected_username, expected_password):
    """Compare both parts in constant time, and always both, so timing tells nothing about either."""
    user_ok = _same(username, expected_username)
    password_ok = _same(password, expected_password)
    return user_ok and password_ok and expected_username is not None


def authorization_matches(header, username=None, password=None, token=None):
    """Check an Authorization header: Basic against username/password, Bearer against token (each if set)."""
    scheme, _sep, value = (header or "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "basic" and username is not None:
        try:
            given_user, _sep, given_password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeError, ValueError):
            return False
        return credentials_match(given_user, given_password, username, password)
    if scheme == "bearer" and token is not None:
        return _same(value, token)
    return False
