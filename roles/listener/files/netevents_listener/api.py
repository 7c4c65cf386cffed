# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plugin API: what the dispatcher hands to a plugin and what it expects back.

A plugin is a subclass of ``Plugin``, named in the configuration by a built-in name (``log``, ``panos``) or
as ``package.module:Class``. See docs/plugins.md.
"""
import importlib
import logging
import os

BUILTIN_PLUGINS = {
    "log": "netevents_listener.plugins.log:LogPlugin",
    "panos": "netevents_listener.plugins.panos:PanosPlugin",
}


class PluginError(Exception):
    """A failure to apply an event. ``retryable=False`` sends the event straight to the dead letters."""

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.retryable = retryable


class PluginLoadError(Exception):
    """The configured plugin cannot be found or is not a Plugin."""


class Event(object):
    """One queued event, as a plugin sees it.

    id          -- queue id; increases with arrival, so it orders the events of one VM
    event_type  -- e.g. "VM.ON"
    vm_uuid     -- the VM's uuid
    body        -- the webhook body as received (a dict)
    vm          -- the body parsed by events.parse_event (a VmEvent: ips, categories, power_state, ...;
                   None members mean "the payload did not say", ask Prism)
    received_at -- when the listener accepted it (epoch seconds)
    attempt     -- 1 for the first try, 2 for the first retry, ...
    """

    __slots__ = ("id", "event_type", "vm_uuid", "body", "vm", "received_at", "attempt")

    def __init__(self, id, event_type, vm_uuid, body, vm, received_at, attempt):  # pylint: disable=redefined-builtin
        self.id = id
        self.event_type = event_type
        self.vm_uuid = vm_uuid
        self.body = body
        self.vm = vm
        self.received_at = received_at
        self.attempt = attempt

    def __repr__(self):
        return "Event(id=%d, %s, %s)" % (self.id, self.event_type, self.vm_uuid)


class PluginContext(object):
    """What a plugin gets at start.

    options   -- its validated options (secrets are ``Secret`` objects: call ``.reveal()``)
    config    -- the whole validated configuration (``config.prism`` holds the Prism connection or None)
    logger    -- a logger whose records go to the service's JSON log
    state_dir -- a directory the plugin may keep state in (the queue's directory)
    registry  -- the prometheus_client registry served on /metrics, for plugin metrics
    """

    def __init__(self, options, config, logger, state_dir, registry=None):
        self.options = options
        self.config = config
        self.logger = logger
        self.state_dir = state_dir
        self.registry = registry

    def resolve_path(self, path):
        """A path from the options, relative to the configuration file's directory."""
        base = os.path.dirname(getattr(self.config, "source", "") or ".")
        return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))

    def prism_client(self):
        """A Prism v3 client (the collection's shared one) for the ``prism`` section of the configuration."""
        prism = getattr(self.config, "prism", None)
        if prism is None:
            raise PluginError("this plugin needs the 'prism' section in the configuration", retryable=False)
        # Imported on use: only plugins that talk to Prism need requests.
        from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismClient
        return PrismClient(prism.host, port=prism.port, username=prism.username,
                           password=prism.password.reveal(), validate_certs=prism.validate_certs,
                           timeout=prism.timeout)


class Plugin(object):
    """Base class of listener plugins.

    The dispatcher calls ``start`` once, then ``handle_batch`` and ``tick`` from a single thread (never
    concurrently), then ``stop`` at shutdown. Events of one VM arrive in order and a batch holds at most one event per VM;
    a VM's next event is only handed over once its previous one succeeded or was dead-lettered.
    Delivery is at least once: an event may be handed over again (after a crash, or when Prism resends),
    so applying it twice must be harmless.
    """

    #: short name used in logs and metrics; defaults to the class name
    name = None

    @classmethod
    def check_options(cls, options, config):
        """Validate and normalise ``plugin.options``; return them. Raise ValueError with a clear message.

        Called by ``check-config`` and at start, before anything runs. The default accepts no options.
        """
        if options:
            raise ValueError("%s takes no options, got %s" % (cls.__name__, ", ".join(sorted(options))))
        return options

    def start(self, context):
        """Prepare (open files, build clients). Raising here stops the service from starting.

        Do not require remote systems to be reachable here: the dispatcher retries events instead.
        """
        self.context = context  # pylint: disable=attribute-defined-outside-init

    def handle_batch(self, events):
        """Apply a list of ``Event``; return one result per event, in the same order.

        A result is None for success, or an exception for a failure (retried with backoff unless it has
        ``retryable = False``, e.g. ``PluginError("...", retryable=False)``). Returning None means every
        event succeeded; raising fails the whole batch (retryable unless the exception says otherwise).
        """
        raise NotImplementedError

    def tick(self):
        """Periodic work, such as a full reconcile: called from the dispatcher thread right after start and
        then about once a second, always between batches (never while ``handle_batch`` runs). Return quickly
        when nothing is due. An exception is logged and shown on /healthz; the dispatcher carries on.
        """

    def stop(self):
        """Release resources. Called once, after the last batch."""


def load_plugin_class(name):
    """The Plugin subclass for a built-in name or a ``module:attribute`` reference."""
    spec = BUILTIN_PLUGINS.get(name, name)
    if ":" not in spec:
        raise PluginLoadError("unknown plugin %r: use %s, or module:attribute for a third-party plugin"
                              % (name, " or ".join(sorted(BUILTIN_PLUGINS))))
    module_name, _sep, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise PluginLoadError("cannot import plugin module %r: %s" % (module_name, e))
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise PluginLoadError("module %r has no attribute %r" % (module_name, attr))
    if not (isinstance(obj, type) and issubclass(obj, Plugin)):
        raise PluginLoadError("%s is not a subclass of netevents_listener.Plugin" % spec)
    return obj


def plugin_logger(plugin_class):
    return logging.getLogger("netevents_listener.plugin.%s" % (plugin_class.name or plugin_class.__name__))
