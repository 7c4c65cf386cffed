# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""netevents listener: receives Nutanix Prism webhooks, queues them durably, applies them through a plugin.

Run it with ``python -m netevents_listener --config FILE`` (see docs/listener.md). Write plugins against the
plugin API this package exports (``from netevents_listener import Plugin, ...``; see docs/plugins.md).
"""
from .api import (Checker, CircuitBreaker, ConfigError, Defer, Event, Plugin, PluginContext, PluginError, Secret,
                  Unavailable, register_secret)

__version__ = "0.1.0"
__all__ = ["Checker", "CircuitBreaker", "ConfigError", "Defer", "Event", "Plugin", "PluginContext", "PluginError",
           "Secret", "Unavailable", "register_secret", "__version__"]
