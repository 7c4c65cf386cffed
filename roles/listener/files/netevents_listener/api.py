# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plugin API: everything a plugin may import from the listener (the package re-exports it).

A plugin is a subclass of ``Plugin``, named in the configuration by a built-in name (``log``, ``panos``) or
as ``package.module:Class``. It checks its options with a ``Checker`` (the one the configuration loader uses),
finds its secrets as ``Secret`` objects, reports a failure with ``PluginError`` (``Unavailable`` when a system every
event needs is down), puts an event off with ``Defer``, and may pause calls to a system that is down with a
``CircuitBreaker``. Besides this module, a
plugin may import the collection's shared code (``ansible_collections.netevents.nutanix.plugins.module_utils``)
and its own libraries — nothing else of the service. See docs/plugins.md.
"""
import dataclasses
import difflib
import importlib
import logging
import os
import stat

from .breaker import CircuitBreaker
from .logs import MASK, register_secret

__all__ = ["Checker", "CircuitBreaker", "ConfigError", "Defer", "Event", "Plugin", "PluginContext", "PluginError",
           "Secret", "Unavailable", "register_secret"]

BUILTIN_PLUGINS = {
    "log": "netevents_listener.plugins.log:LogPlugin",
    "panos": "netevents_listener.plugins.panos:PanosPlugin",
}


# --- configuration values ---------------------------------------------------------------------------------------

class ConfigError(Exception):
    """The configuration is not valid; ``errors`` lists every problem found."""

    def __init__(self, errors, source=None):
        self.errors = list(errors)
        self.source = source
        super().__init__(self.__str__())

    def __str__(self):
        head = "invalid configuration" + (" in %s" % self.source if self.source else "")
        return head + ":\n" + "\n".join("  - " + e for e in self.errors)


class Secret(object):
    """A secret value that does not print itself: use ``reveal()`` where the real value is needed.

    Making one also masks its value in every log line (``register_secret``).
    """

    __slots__ = ("_value", "source")

    def __init__(self, value, source):
        self._value = value
        self.source = source
        register_secret(value)

    def reveal(self):
        return self._value

    def __repr__(self):
        return "Secret(%s, %s)" % (self.source, MASK)

    __str__ = __repr__

    def __eq__(self, other):
        return isinstance(other, Secret) and other.reveal() == self._value

    def __hash__(self):
        return hash(self._value)


def _type_name(value):
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "nothing"}.get(type(value), type(value).__name__)


class Checker(object):
    """Collects every problem of a configuration, each under its key's dotted path, to report them all at once.

    ``options()`` checks a whole mapping against a spec; the typed checks return the value, or None after recording
    an error (so one mistake gives one message); ``done()`` raises ConfigError with every message. A plugin makes
    one with ``Checker.for_config(config)`` in ``check_options``; its paths are relative to ``plugin.options``.
    """

    def __init__(self, base_dir="."):
        self.base_dir = base_dir
        self.errors = []

    @classmethod
    def for_config(cls, config):
        """A checker whose relative paths are relative to the configuration file, as the loader's are."""
        return cls(os.path.dirname(getattr(config, "source", "") or "."))

    def error(self, where, message):
        self.errors.append("%s: %s" % (where, message) if where else message)

    def done(self):
        if self.errors:
            raise ConfigError(self.errors)

    def unknown_keys(self, where, data, allowed):
        for key in data:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), list(allowed), n=1)
                self.error("%s.%s" % (where, key) if where else str(key),
                           "unknown key" + (" (did you mean %r?)" % hint[0] if hint else ""))

    def options(self, data, spec, where="", also=()):
        """*data* (a mapping) checked against *spec*, and every key of *spec* with its value or default (None: unset).

        spec -- {key: rule}, a rule as in an Ansible argument_spec: "type" ("str", the default; "int", "float",
        "bool", "list" of strings, "dict"), "default", "required" (True, or a hint for the message), "range"
        (low, high) for numbers, "choices". *also* names further keys the caller checks itself. A key given as
        null counts as unset.
        """
        self.unknown_keys(where, data, tuple(spec) + tuple(also))
        out = {}
        for key, rule in spec.items():
            at = "%s.%s" % (where, key) if where else key
            value = rule.get("default") if data.get(key) is None else data[key]
            if value is None:
                if rule.get("required"):
                    hint = rule["required"] if isinstance(rule["required"], str) else ""
                    self.error(where, "missing required %s%s" % (key, " (%s)" % hint if hint else ""))
                out[key] = None
                continue
            if "choices" in rule:
                out[key] = self.choice(at, value, rule["choices"])
            elif rule.get("type") in ("int", "float"):
                check = self.integer if rule["type"] == "int" else self.number
                out[key] = check(at, value, *rule.get("range", (None, None)))
            else:
                check = {"str": self.string, "bool": self.boolean, "list": self.strings, "dict": self.mapping}
                out[key] = check[rule.get("type", "str")](at, value)
        return out

    def path(self, value):
        return value if os.path.isabs(value) else os.path.normpath(os.path.join(self.base_dir, value))

    def _expect(self, where, ok, what, value):
        if ok:
            return value
        self.error(where, "must be %s, got %s" % (what, _type_name(value)))
        return None

    def string(self, where, value, nonempty=True):
        value = self._expect(where, isinstance(value, str), "a string", value)
        if value is not None and nonempty and not value.strip():
            self.error(where, "must not be empty")
            return None
        return value

    def strings(self, where, value):
        """A list of non-empty strings."""
        if self._expect(where, isinstance(value, list), "a list", value) is None:
            return None
        items = [self.string("%s[%d]" % (where, i), item) for i, item in enumerate(value)]
        return None if None in items else items

    def integer(self, where, value, low=None, high=None):
        return self._number(where, value, (int,), "an integer", low, high)

    def number(self, where, value, low=None, high=None):
        value = self._number(where, value, (int, float), "a number", low, high)
        return None if value is None else float(value)

    def _number(self, where, value, types, what, low, high):
        if self._expect(where, isinstance(value, types) and not isinstance(value, bool), what, value) is None:
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            self.error(where, "must be between %s and %s, got %s" % (low, high, value))
            return None
        return value

    def boolean(self, where, value):
        return self._expect(where, isinstance(value, bool), "true or false", value)

    def mapping(self, where, value):
        return self._expect(where, isinstance(value, dict), "a mapping", value)

    def choice(self, where, value, choices):
        if value not in choices:
            self.error(where, "must be one of %s, got %r" % (", ".join(choices), value))
            return None
        return value

    def readable_file(self, where, value, private=False):
        """The absolute path of a file this process can read (and, if *private*, only its owner)."""
        value = self.string(where, value)
        if value is None:
            return None
        path = self.path(value)
        try:
            st = os.stat(path)
            with open(path, "rb"):
                pass
        except OSError as e:
            self.error(where, "cannot read %s: %s" % (path, e.strerror))
            return None
        if private and st.st_mode & 0o077:
            self.error(where, "%s is readable by group or others (mode %04o): chmod 600 %s"
                       % (path, stat.S_IMODE(st.st_mode), path))
            return None
        return path


# --- plugins ----------------------------------------------------------------------------------------------------

class PluginError(Exception):
    """A failure to apply an event. ``retryable=False`` sends the event straight to the dead letters."""

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.retryable = retryable


class Unavailable(PluginError):
    """A system the events need is down as a whole (unreachable, refusing our credentials, answering 5xx): no
    fault of the events. Raised from ``handle_batch`` (or returned for an event), it makes the dispatcher give back
    the attempts it counted, and pause: after a backoff (the queue's ``backoff_initial_s``, doubling up to
    ``backoff_max_s``) one batch probes again. ``scope`` names the system, for logs and /healthz."""

    def __init__(self, message, scope="prism"):
        super().__init__(message, retryable=True)
        self.scope = scope


class Defer(Exception):
    """A result for an event that cannot be applied *yet* (a VM on whose address Prism has not learnt): the
    dispatcher tries it again after *seconds*, without counting an attempt. A newer event of the same VM
    supersedes it (it is dropped: every event is a hint). The plugin bounds how long it defers an event."""

    def __init__(self, seconds, reason="not ready yet"):
        super().__init__(reason)
        self.seconds = max(0.0, float(seconds))
        self.reason = reason


class PluginLoadError(Exception):
    """The configured plugin cannot be found or is not a Plugin."""


@dataclasses.dataclass
class Event(object):
    """One queued event, as a plugin sees it."""

    id: int                 # queue id; increases with arrival, so it orders the events of one VM
    event_type: str         # e.g. "VM.ON"
    vm_uuid: str
    body: dict              # the webhook body as received
    # The body parsed by events.parse_event (a VmEvent: ips, categories, power_state, action, ...; None
    # members mean "the payload did not say", ask Prism).
    vm: object
    received_at: float      # when the listener accepted it (epoch seconds)
    attempt: int            # 1 for the first try, 2 for the first retry, ... (deferrals and refunds not counted)
    # Where it came from: "webhook" (a Prism delivery, a hint to check), or "poll" (the listener's own reading
    # of Prism, so its payload is Prism's present state).
    origin: str = "webhook"
    # The name of the Prism it came from (config.prisms[].name), None for the only one (or an event queued before
    # the listener knew several): ``PluginContext.prism_client(event.prism)`` reads from that one.
    prism: str = None

    def __repr__(self):
        return "Event(id=%d, %s, %s)" % (self.id, self.event_type, self.vm_uuid)


@dataclasses.dataclass
class PluginContext(object):
    """What a plugin gets at start."""

    options: dict           # its checked options (secrets are ``Secret`` objects: call ``.reveal()``)
    config: object          # the whole checked configuration (``config.prisms``: the Prisms, ``config.prism``: the
    #                         first or None)
    logger: logging.Logger  # records go to the service's JSON log
    state_dir: str          # a directory the plugin may keep state in (the queue's directory)
    registry: object = None  # the prometheus_client registry served on /metrics, for plugin metrics

    def resolve_path(self, path):
        """A path from the options, relative to the configuration file's directory."""
        return Checker.for_config(self.config).path(path)

    def prism_entry(self, name=None):
        """The configuration of the Prism named *name* (None: the first, or only, one). Raises PluginError."""
        prisms = getattr(self.config, "prisms", None)
        if prisms is None:  # a configuration made by hand, without the loader
            prism = getattr(self.config, "prism", None)
            prisms = [prism] if prism is not None else []
        if not prisms:
            raise PluginError("this plugin needs the 'prism' section in the configuration", retryable=False)
        if name is None:
            return prisms[0]
        for prism in prisms:
            if getattr(prism, "name", None) == name:
                return prism
        raise PluginError("no Prism named %r in the configuration (it names %s)" % (
            name, ", ".join(repr(getattr(p, "name", None)) for p in prisms)), retryable=False)

    def prism_client(self, name=None):
        """A Prism client (the collection's shared one: v3, and v4 as the entry's ``api`` says) for the Prism named
        *name* in the configuration's ``prism`` section (None: the first, or only, one)."""
        return prism_client_for(self.prism_entry(name))


def prism_client_for(prism):
    """A PrismClient for one checked Prism entry of the configuration (also the poller's)."""
    # Imported on use: only plugins that talk to Prism need requests.
    from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismClient
    secret = getattr(prism, "api_key", None)
    return PrismClient(prism.host, port=prism.port, username=prism.username,
                       password=None if prism.password is None else prism.password.reveal(),
                       validate_certs=prism.validate_certs, ca_path=prism.ca_path, timeout=prism.timeout,
                       api=getattr(prism, "api", "auto"), api_key=None if secret is None else secret.reveal())


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
    #: the plugin's options, a spec for ``Checker.options``; the default ``check_options`` checks against it
    options_spec = {}

    @classmethod
    def check_options(cls, options, config):
        """Check and normalise ``plugin.options``; return them. Raise ConfigError (``Checker.done()``) or ValueError.

        Called by ``check-config`` and at start, before anything runs. The default checks them against
        ``options_spec`` (which, by default, accepts no options) and fills in the defaults.
        """
        checker = Checker.for_config(config)
        options = checker.options(options, cls.options_spec)
        checker.done()
        return options

    def start(self, context):
        """Prepare (open files, build clients). Raising here stops the service from starting.

        Do not require remote systems to be reachable here: the dispatcher retries events instead.
        """
        self.context = context  # pylint: disable=attribute-defined-outside-init

    def handle_batch(self, events):
        """Apply a list of ``Event``; return one result per event, in the same order.

        A result is None for success, ``Defer(seconds)`` for an event that is not ready yet, or an exception for
        a failure (retried with backoff unless it has ``retryable = False``, e.g. ``PluginError("...",
        retryable=False)``). Returning None means every event succeeded; raising fails the whole batch
        (retryable unless the exception says otherwise). Raise ``Unavailable`` when a system every event needs
        is down: no event is charged an attempt, and the dispatcher pauses. Fail one event for its own fault
        only: its neighbours in the batch should still be applied.
        """
        raise NotImplementedError

    def tick(self):
        """Periodic work, such as a full reconcile: called from the dispatcher thread right after start and
        then about once a second, always between batches (never while ``handle_batch`` runs). Return quickly
        when nothing is due. An exception is logged and shown on /healthz; the dispatcher carries on.
        """

    def health(self):
        """A small JSON-able mapping for /healthz, ``{"ok": bool, ...}``; ``ok`` false makes the service unhealthy
        (e.g. a target refusing our credentials). Called from the HTTP threads, concurrently with everything
        else: return a snapshot at once, never call a remote system here."""
        return {"ok": True}

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
