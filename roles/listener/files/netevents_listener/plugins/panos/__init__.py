# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``panos`` plugin: a VM's Nutanix categories become PAN-OS tags on the VM's IP addresses.

One job per file: ``options`` checks the plugin's options; ``plugin`` resolves events to what each VM should
have and runs the reconcile; ``target`` is one firewall (its connection, and how a change set or a reconcile
reaches it in the configured mode); ``state`` is the memory of what was registered and the SQLite file that
keeps it; ``metrics`` its counters. Talking to PAN-OS (User-ID, address objects, commits) is the collection's one
PAN-OS client, module_utils/panos.py. Options: docs/listener.md ("The panos plugin").
"""
from .plugin import PanosPlugin

__all__ = ["PanosPlugin"]
