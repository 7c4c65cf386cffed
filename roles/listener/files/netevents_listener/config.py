# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load and validate the listener's YAML configuration.

Every problem is reported at start, all at once, with the key's dotted path: unknown keys (with a
"did you mean"), wrong types, missing required keys, unreadable files. Secrets never sit in the file
itself: a ``password`` is given as ``password_file`` (a file only its owner can read) or ``password_env``
(the name of an environment variable), and becomes a ``Secret`` whose ``repr`` is masked.
Relative paths are relative to the configuration file's directory.
"""
import ipaddress
import os
import re
import ssl
import types

import yaml

from ansible_collections.netevents.nutanix.plugins.module_utils.prism import API_CHOICES
from ansible_collections.netevents.nutanix.plugins.module_utils.tls import client_context
from ansible_collections.netevents.nutanix.plugins.module_utils.webhook_receiver import (
    DEFAULT_MAX_BODY, DEFAULT_PATH, MAX_BODY_RANGE, network, path_problem, path_token_problem, username_problem)

from .api import Checker, ConfigError, PluginLoadError, Secret, load_plugin_class

# Option names that hold secrets, wherever they appear (also inside plugin options).
SECRET_NAMES = ("password", "api_key", "token", "secret")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_RESERVED_PATHS = ("/healthz", "/metrics")
SOURCES = ("webhook", "poll", "both")  # prism.source
POLL_SOURCES = ("poll", "both")
_HOST_RE = r"^[A-Za-z0-9.\-]{1,253}$"


class Section(types.SimpleNamespace):
    """A checked section: attribute access, and ``as_dict()`` for plugins that want a plain dict."""

    def as_dict(self):
        return dict(self.__dict__)


class _ConfigChecker(Checker):
    """The plugin API's Checker, plus reading secrets (the loader does that for plugins too)."""

    def __init__(self, base_dir, read_secrets=True):
        super().__init__(base_dir)
        self.read_secrets = read_secrets

    def secret(self, where, section, name, required):
        """Resolve ``<name>_file`` / ``<name>_env`` in *section* (a dict) into a Secret."""
        inline = section.get(name)
        from_file = section.get(name + "_file")
        from_env = section.get(name + "_env")
        if inline is not None:
            self.error("%s.%s" % (where, name), "secrets are not accepted in the configuration file: "
                       "put the value in a file (mode 0600) and set %s_file, or name an environment variable "
                       "with %s_env" % (name, name))
            return None
        if from_file is not None and from_env is not None:
            self.error(where, "set only one of %s_file and %s_env" % (name, name))
            return None
        if from_file is None and from_env is None:
            if required:
                self.error(where, "missing required %s_file (or %s_env)" % (name, name))
            return None
        if from_file is not None:
            if not self.read_secrets:
                return Secret("", "file %s" % from_file)
            path = self.readable_file("%s.%s_file" % (where, name), from_file, private=True)
            if path is None:
                return None
            with open(path, encoding="utf-8", errors="strict") as f:
                try:
                    value = f.read()
                except UnicodeDecodeError:
                    self.error("%s.%s_file" % (where, name), "%s is not UTF-8 text" % path)
                    return None
            # Editors and `echo` add a final newline; it is never part of the secret.
            value = value.rstrip("\r\n")
            if not value:
                self.error("%s.%s_file" % (where, name), "%s is empty" % path)
                return None
            return Secret(value, "file " + path)
        var = self.string("%s.%s_env" % (where, name), from_env)
        if var is None:
            return None
        value = os.environ.get(var)
        if self.read_secrets and not value:
            self.error("%s.%s_env" % (where, name), "environment variable %s is not set or empty" % var)
            return None
        return Secret(value or "", "env " + var)


def resolve_secrets(checker, where, value):
    """Turn every ``<secret>_file``/``<secret>_env`` pair inside plugin options into Secrets (recursively)."""
    if isinstance(value, dict):
        out = {}
        handled = set()
        for name in SECRET_NAMES:
            if any(k in value for k in (name, name + "_file", name + "_env")):
                handled.update((name, name + "_file", name + "_env"))
                secret = checker.secret(where, value, name, required=False)
                if secret is not None:
                    out[name] = secret
        for key, item in value.items():
            if key not in handled:
                out[key] = resolve_secrets(checker, "%s.%s" % (where, key), item)
        return out
    if isinstance(value, list):
        return [resolve_secrets(checker, "%s[%d]" % (where, i), item) for i, item in enumerate(value)]
    return value


_SECTIONS = ("listener", "prism", "plugin", "queue", "reconcile")
_SECRET_KEYS = ("password", "password_file", "password_env")
_API_KEY_KEYS = ("api_key", "api_key_file", "api_key_env")
_PATH_TOKEN_KEYS = ("path_token", "path_token_file", "path_token_env")
_LISTENER = {
    "host": {"default": "0.0.0.0"}, "port": {"type": "int", "default": 8080, "range": (1, 65535)},
    "path": {"default": DEFAULT_PATH}, "username": {}, "allowed_networks": {"type": "list"},
    "tls_cert": {}, "tls_key": {}, "max_body_bytes": {"type": "int", "default": DEFAULT_MAX_BODY, "range": MAX_BODY_RANGE},
    "threads": {"type": "int", "default": 8, "range": (1, 64)},
    "shutdown_timeout_s": {"type": "int", "default": 30, "range": (1, 3600)}, "log_level": {"default": "INFO"},
}
_PRISM = {
    "name": {}, "host": {"required": True}, "port": {"type": "int", "default": 9440, "range": (1, 65535)},
    "username": {}, "validate_certs": {"type": "bool", "default": True}, "ca_path": {},
    "timeout": {"type": "int", "default": 30, "range": (1, 600)},
    # How VMs are read (v3, v4, or auto: v4 where the Prism serves it), and where events come from: Prism's v3
    # webhook deliveries, the listener's own poll of Prism every poll_interval_s, or both (docs/sources.md).
    "api": {"default": "auto", "choices": API_CHOICES},
    "source": {"default": "both", "choices": SOURCES},
    "poll_interval_s": {"type": "int", "default": 30, "range": (5, 3600)},
}
# A Prism's name may reach tag names ({pc}) and metric labels: the characters tagging.py accepts in a Prism name.
_PRISM_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")
DEFAULT_PRISM_NAME = "default"
_QUEUE = {
    "path": {"required": "the SQLite file of the queue"},
    "batch_max_events": {"type": "int", "default": 500, "range": (1, 10000)},
    "batch_window_ms": {"type": "int", "default": 0, "range": (0, 60000)},
    "max_attempts": {"type": "int", "default": 10, "range": (1, 1000)},
    "backoff_initial_s": {"type": "float", "default": 1.0, "range": (0.001, 3600)},
    "backoff_max_s": {"type": "float", "default": 300.0, "range": (0.001, 86400)},
    "dedupe_window_s": {"type": "int", "default": 300, "range": (0, 86400)},
}
_RECONCILE = {"interval_minutes": {"type": "int", "default": 15, "range": (0, 10080)}}


def _listener(c, data):
    w = "listener"
    out = Section(**c.options(data, _LISTENER, w, also=_SECRET_KEYS + _PATH_TOKEN_KEYS))
    if out.host is not None:
        try:
            ipaddress.ip_address(out.host)
        except ValueError:
            if not re.match(_HOST_RE, out.host):
                c.error(w + ".host", "must be an IP address or a host name, got %r" % out.host)
    if out.path is not None:
        if path_problem(out.path):
            c.error(w + ".path", path_problem(out.path))
        elif out.path.rstrip("/") in _RESERVED_PATHS:
            c.error(w + ".path", "%s is reserved for the service itself" % out.path)
    _listener_auth(c, data, out)
    nets, out.allowed_networks = out.allowed_networks or [], []
    for i, net in enumerate(nets):
        try:
            out.allowed_networks.append(network(net))
        except ValueError as e:
            c.error("%s.allowed_networks[%d]" % (w, i), str(e))
    if (out.tls_cert is None) != (out.tls_key is None):
        c.error(w, "set both tls_cert and tls_key, or neither")
        out.tls_cert = out.tls_key = None
    elif out.tls_cert is not None:
        out.tls_cert = c.readable_file(w + ".tls_cert", out.tls_cert)
        out.tls_key = c.readable_file(w + ".tls_key", out.tls_key, private=True)
        if out.tls_cert and out.tls_key:
            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(out.tls_cert, out.tls_key)
            except (ssl.SSLError, OSError) as e:
                c.error(w + ".tls_cert", "the certificate and key cannot be used together (%s)" % e)
    if out.log_level is not None:
        out.log_level = c.choice(w + ".log_level", out.log_level.upper(), LOG_LEVELS)
    return out


def _listener_auth(c, data, out):
    """Basic auth (username + password), a path token, or both: each one configured is required of a request."""
    w = "listener"
    has_password = any(data.get(k) is not None for k in _SECRET_KEYS)
    # (No credentials at all: _check_auth says so, once the prism entries' path tokens and sources are known.)
    out.receive_webhooks = True
    if out.username is None and has_password:
        c.error(w, "missing required username (basic auth needs it with the password)")
    elif out.username and username_problem(out.username):
        c.error(w + ".username", username_problem(out.username))
    out.password = c.secret(w, data, "password", required=out.username is not None)
    out.path_token = _path_token(c, w, data)


def _path_token(c, w, data):
    token = c.secret(w, data, "path_token", required=False)
    if token is not None and c.read_secrets and path_token_problem(token.reveal()):
        c.error(w + ".path_token_" + ("file" if data.get("path_token_file") else "env"),
                path_token_problem(token.reveal()))
    return token


def prism_entries(config):
    """The checked Prism entries: ``config.prisms`` (the callers of poll's helper predate the list)."""
    prisms = getattr(config, "prisms", None)
    if prisms is None:
        prisms = [config.prism] if getattr(config, "prism", None) is not None else []
    return prisms


def _prisms(c, value):
    """The ``prism`` section: one entry (a mapping, named "default" unless it says) or a list of named entries."""
    if isinstance(value, dict):
        entries = [_prism(c, value)]
        if entries[0].name is None:
            entries[0].name = DEFAULT_PRISM_NAME
        return entries
    if not isinstance(value, list) or not value:
        c.error("prism", "must be a mapping (one Prism) or a list of Prisms, each with a name, got %s"
                % ("an empty list" if isinstance(value, list) else type(value).__name__))
        return []
    entries, seen = [], {}
    for i, item in enumerate(value):
        w = "prism[%d]" % i
        if c.mapping(w, item) is None:
            continue
        entry = _prism(c, item, w)
        entries.append(entry)
        if entry.name is None:
            if item.get("name") is not None:
                continue  # said already: not a valid name
            c.error(w, "missing required name (in the list form each Prism is named: the name tells its events, "
                       "and its tags with {pc}, from the others')")
            continue
        # PAN-OS compares tag names without regard to case: two names equal but for case would share tags.
        other = seen.get(entry.name.lower())
        if other is not None:
            c.error(w + ".name", "%r is already the name of %s (names must differ in more than case)"
                    % (entry.name, other))
        seen.setdefault(entry.name.lower(), w)
    return entries


def _prism(c, data, w="prism"):
    out = Section(**c.options(data, _PRISM, w, also=_SECRET_KEYS + _API_KEY_KEYS + _PATH_TOKEN_KEYS))
    if out.name is not None and not _PRISM_NAME_RE.match(out.name):
        c.error(w + ".name", "%r is not a valid Prism name: 1 to 63 letters, digits, '_', '-' and '.' (it may "
                             "become part of tag names)" % out.name)
        out.name = None
    has_password = any(data.get(k) is not None for k in _SECRET_KEYS)
    has_api_key = any(data.get(k) is not None for k in _API_KEY_KEYS)
    if has_api_key and (has_password or out.username is not None):
        # The client would send only the key; a second, unused credential is a mistake waiting to be trusted.
        c.error(w, "give username and password_file, or api_key_file, not both")
    elif not has_api_key and out.username is None:
        c.error(w, "missing required username (with password_file), or api_key_file (a Prism Central API key)")
    out.password = c.secret(w, data, "password", required=not has_api_key and out.username is not None)
    out.api_key = c.secret(w, data, "api_key", required=False) if has_api_key else None
    out.path_token = _path_token(c, w, data)
    out.where = w  # its key path, for messages
    if out.ca_path is not None:
        # Loaded now, so a wrong file stops the start with its reason rather than failing each call to Prism.
        out.ca_path = c.path(out.ca_path)
        try:
            client_context(ca_path=out.ca_path)
        except ValueError as e:
            c.error(w + ".ca_path", str(e))
    return out


def _plugin(c, data):
    w = "plugin"
    out = Section(**c.options(data, {"name": {"required": "log, panos, or module:attribute"}, "options": {
        "type": "dict", "default": {}}}, w))
    out.options = resolve_secrets(c, w + ".options", out.options)
    return out


def _queue(c, data):
    out = Section(**c.options(data, _QUEUE, "queue"))
    # The directory may not exist yet when the configuration is checked (systemd's StateDirectory= makes it
    # at service start); the queue reports a missing one when it opens.
    out.path = c.path(out.path) if out.path else None
    if out.backoff_initial_s and out.backoff_max_s and out.backoff_max_s < out.backoff_initial_s:
        c.error("queue.backoff_max_s", "must not be smaller than backoff_initial_s")
    return out


def _reconcile(c, data):
    return Section(**c.options(data, _RECONCILE, "reconcile"))


def _check_auth(c, data, config):
    """The listener needs credentials of some kind, unless every Prism is polled only (then it serves no webhook
    path); with several Prisms delivering webhooks, a path token for each (it says which Prism sent a delivery)."""
    listener, prisms = config.listener, config.prisms
    if listener is None or not isinstance(data, dict):
        return
    # A poll-only Prism sends no deliveries: it needs no token, and does not make a listener-wide one ambiguous.
    senders = [p for p in prisms if p.source != "poll"]
    tokens = [p for p in prisms if p.path_token is not None]
    has_token = any(data.get(k) is not None for k in _PATH_TOKEN_KEYS)
    if listener.username is None and not has_token and not tokens and not any(
            data.get(k) is not None for k in _SECRET_KEYS):
        if prisms and not senders:
            listener.receive_webhooks = False
        else:
            c.error("listener", "missing required username and password_file (basic auth), or path_token_file (a "
                                "secret in the URL), or both: the listener does not accept unauthenticated events (a "
                                "listener that only polls Prism, prism.source: poll, needs none)")
    if has_token and tokens:
        c.error("listener", "path_token_file/path_token_env is set here and in %s: give each Prism its own "
                            "(prism[].path_token_file) and none here, or one here for a single Prism"
                % ", ".join(_where(prisms, p) for p in tokens))
    if len(senders) > 1:
        if has_token and not tokens:
            c.error("listener", "with several Prisms a listener-wide path token does not say which Prism sent an "
                                "event: move it to the prism entries, one token each (prism[].path_token_file)")
        for p in senders:
            if p.path_token is None:
                c.error(_where(prisms, p), "missing required path_token_file (or path_token_env): with several "
                                           "Prisms sending webhooks, the token in the webhook's URL says which "
                                           "Prism sent an event (one polled only, source: poll, needs none)")
    if c.read_secrets:
        seen = {}
        for p in tokens:
            first = seen.setdefault(p.path_token.reveal(), p)
            if first is not p:
                c.error(_where(prisms, p), "has the same path token as %s: each Prism needs its own"
                        % _where(prisms, first))


def _where(_prisms, entry):
    return entry.where


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a typo'd duplicate deserves an error."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, "duplicate key %r" % key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path, read_secrets=True, check_plugin=True):
    """Read, validate and return the configuration (a Section per section). Raises ConfigError.

    read_secrets=False validates the layout but does not read secret files or variables (used by the
    dead-letters commands, which only need the queue). check_plugin=True also imports the plugin and
    validates its options through ``Plugin.check_options``.
    """
    path = os.path.abspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_UniqueKeyLoader)  # nosec: a SafeLoader subclass
    except OSError as e:
        raise ConfigError(["cannot read the file: %s" % e.strerror], path)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(["not valid YAML: %s" % e], path)
    if not isinstance(data, dict):
        raise ConfigError(["the file must hold a mapping with the sections %s" % ", ".join(_SECTIONS)], path)
    c = _ConfigChecker(os.path.dirname(path), read_secrets=read_secrets)
    c.unknown_keys("", data, _SECTIONS)
    config = Section(source=path)
    sections = {
        "listener": (_listener, True), "prism": (_prism, False), "plugin": (_plugin, True),
        "queue": (_queue, True), "reconcile": (_reconcile, False),
    }
    for name, (build, required) in sections.items():
        value = data.get(name)
        if name == "prism":
            config.prisms = _prisms(c, value) if value is not None else []
            # The first Prism (or None): what single-Prism code reads.
            config.prism = config.prisms[0] if config.prisms else None
            continue
        if value is None:
            if required:
                c.error(name, "missing required section")
            # prism is optional (only plugins that read VMs need it): absent means None, not defaults.
            setattr(config, name, None if required or name == "prism" else build(c, {}))
            continue
        section = c.mapping(name, value)
        setattr(config, name, build(c, section) if section is not None else None)
    _check_auth(c, data.get("listener"), config)
    if not c.errors and check_plugin:
        try:
            plugin_class = load_plugin_class(config.plugin.name)
            config.plugin.options = plugin_class.check_options(config.plugin.options, config)
        except PluginLoadError as e:
            c.error("plugin.name", str(e))
        except (ValueError, TypeError, ConfigError) as e:
            for line in getattr(e, "errors", None) or [str(e)]:
                c.error("plugin.options", line)
    if c.errors:
        raise ConfigError(c.errors, path)
    return config
