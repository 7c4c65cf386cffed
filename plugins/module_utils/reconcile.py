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
    RegistrationRefused, apply_registered_ips, get_registered_ips, plan_registered_ips)
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import desired_ip_tags


def read_vm_states(client, page_size=500):
    """Every VM in Prism as a VmState, through v3 or v4 as the client's ``api`` says (page_size: v3 only)."""
    return client.vm_states(page_size=page_size)


def reconcile_device(device, desired, mapper, apply=True, timeout=None, limit=None):
    """Make one firewall's owned tags match *desired*; return (plan, current, user-id calls made).

    timeout -- seconds the registered tags live: every owned tag is then registered again, which starts its
    timeout again (a lease renewed), even when nothing else changed.
    limit   -- a function (desired, current) -> desired that keeps what the device can hold (tags per IP).
    A RegistrationRefused raised by the device carries .plan and .current.
    """
    current = get_registered_ips(device)
    if limit is not None:
        desired = limit(desired, current)
    result = plan_registered_ips(desired, current, owns=mapper.owns)
    calls = 0
    register = result.register
    if timeout:
        register = dict((ip, set(tags)) for ip, tags in desired.items() if tags)
    if apply and (register or result.unregister):
        try:
            calls = apply_registered_ips(device, register=register, unregister=result.unregister, timeout=timeout)
        except RegistrationRefused as e:
            e.plan, e.current = result, current
            raise
    return result, current, calls


def reconcile(client, devices, mapper, apply=True, timeout=None, page_size=500):
    """Reconcile every device against Prism; return (vm_states, desired, [(plan, current, calls), ...])."""
    vms = read_vm_states(client, page_size=page_size)
    desired = desired_ip_tags(vms, mapper)
    return vms, desired, [reconcile_device(d, desired, mapper, apply=apply, timeout=timeout) for d in devices]
