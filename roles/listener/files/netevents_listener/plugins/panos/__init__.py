# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``panos`` plugin: a VM's Nutanix categories become PAN-OS tags on the VM's IP addresses.

One job per file: ``options`` checks the plugin's options, ``state`` is its memory of what it registered (and
the SQLite file that keeps it), ``target`` is one firewall's connection, ``plugin`` turns events into one change
set per firewall and runs the reconcile. Talking to PAN-OS (User-ID, address objects, commits) is the collection's
one PAN-OS client, module_utils/panos.py. Options: docs/listener.md ("The panos plugin").
"""
from .plugin import PanosPlugin

__all__ = ["PanosPlugin"]
