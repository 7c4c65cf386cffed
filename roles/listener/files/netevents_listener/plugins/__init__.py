# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Built-in plugins: ``log`` (events as JSON lines in a file) and ``panos`` (PAN-OS User-ID tags)."""
