# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One reconcile of Prism's VMs against a firewall's registered IPs.

Used by the vm_tag_sync module and by the listener's periodic reconcile, so both repair drift the same way:
read every VM (paged), compute the tags each powered-on VM's IPs should carry, read the firewall's
registered-IP table, and register/unregister the difference in one batched User-ID call, touching only
the tags the mapper owns.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netevents.nutanix.plugins.module_utils.panos import (
    apply_registered_ips, get_registered_ips, plan_registered_ips)
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import desired_ip_tags


def read_vm_states(client, page_size=500):
    """Every VM in Prism as a VmState, through v3 or v4 as the client's ``api`` says (page_size: v3 only)."""
    return client.vm_states(page_size=page_size)


def reconcile_device(device, desired, mapper, apply=True, timeout=None):
    """Make one firewall's owned tags match *desired*; return (plan, current, user-id calls made)."""
    current = get_registered_ips(device)
    result = plan_registered_ips(desired, current, owns=mapper.owns)
    calls = 0
    if apply and result.changed:
        calls = apply_registered_ips(device, register=result.register, unregister=result.unregister,
                                     timeout=timeout)
    return result, current, calls


def reconcile(client, devices, mapper, apply=True, timeout=None, page_size=500):
    """Reconcile every device against Prism; return (vm_states, desired, [(plan, current, calls), ...])."""
    vms = read_vm_states(client, page_size=page_size)
    desired = desired_ip_tags(vms, mapper)
    return vms, desired, [reconcile_device(d, desired, mapper, apply=apply, timeout=timeout) for d in devices]
