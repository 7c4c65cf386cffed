# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load and validate the listener's YAML configuration.

Every problem is reported at start, all at once, with the key's dotted path: unknown keys (with a
"did you mean"), wrong types, missing required keys, unreadable files. Secrets never sit in the file
itself: a ``password`` is given as ``password_file`` (a file only its owner can read) or ``password_env``
(the name of an environment variable), and becomes a ``Secret`` whose ``repr`` is masked.
Relative paths are relative to the configuration file's directory.
"""
import difflib
import ipaddress
import os
import re
import ssl
import stat
import types

import yaml

from .logs import MASK, register_secret

# Option names that hold secrets, wherever they appear (also inside plugin options).
SECRET_NAMES = ("password", "api_key", "token", "secret")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~\-/]{0,255}$")
_RESERVED_PATHS = ("/healthz", "/metrics")


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
    """A secret value that does not print itself: use ``reveal()`` where the real value is needed."""

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


class Section(types.SimpleNamespace):
    """A validated section: attribute access, and ``as_dict()`` for plugins that want a plain dict."""

    def as_dict(self):
        return dict(self.__dict__)


def _type_name(value):
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


class _Checker(object):
    """Collects errors while walking the document."""

    def __init__(self, base_dir, read_secrets=True):
        self.base_dir = base_dir
        self.read_secrets = read_secrets
        self.errors = []

    def error(self, where, message):
        self.errors.append("%s: %s" % (where, message))

    def unknown_keys(self, where, data, allowed):
        for key in data:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), list(allowed), n=1)
                self.error("%s.%s" % (where, key) if where else str(key),
                           "unknown key" + (" (did you mean %r?)" % hint[0] if hint else ""))

    def path(self, value):
        return value if os.path.isabs(value) else os.path.normpath(os.path.join(self.base_dir, value))

    # -- typed values; each returns the value, or None after recording an error --
    def string(self, where, value, nonempty=True):
        if not isinstance(value, str):
            self.error(where, "must be a string, got %s" % _type_name(value))
            return None
        if nonempty and not value.strip():
            self.error(where, "must not be empty")
            return None
        return value

    def integer(self, where, value, low=None, high=None):
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, "must be an integer, got %s" % _type_name(value))
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            self.error(where, "must be between %s and %s, got %s" % (low, high, value))
            return None
        return value

    def number(self, where, value, low=None, high=None):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(where, "must be a number, got %s" % _type_name(value))
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            self.error(where, "must be between %s and %s, got %s" % (low, high, value))
            return None
        return float(value)

    def boolean(self, where, value):
        if not isinstance(value, bool):
            self.error(where, "must be true or false, got %s" % _type_name(value))
            return None
        return value

    def readable_file(self, where, value, private=False):
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


def _mapping(checker, where, value, required):
    if value is None:
        if required:
            checker.error(where, "missing required section")
        return None if required else {}
    if not isinstance(value, dict):
        checker.error(where, "must be a mapping, got %s" % _type_name(value))
        return None
    return value


def _listener(c, data):
    w = "listener"
    allowed = ("host", "port", "path", "username", "password_file", "password_env", "password",
               "allowed_networks", "tls_cert", "tls_key", "max_body_bytes", "threads", "shutdown_timeout_s",
               "log_level")
    c.unknown_keys(w, data, allowed)
    out = Section()
    out.host = c.string(w + ".host", data.get("host", "0.0.0.0"))
    if out.host is not None:
        try:
            ipaddress.ip_address(out.host)
        except ValueError:
            if not re.match(r"^[A-Za-z0-9.\-]{1,253}$", out.host):
                c.error(w + ".host", "must be an IP address or a host name, got %r" % out.host)
    out.port = c.integer(w + ".port", data.get("port", 8080), 1, 65535)
    out.path = c.string(w + ".path", data.get("path", "/listener/callback"))
    if out.path is not None:
        if not _PATH_RE.match(out.path):
            c.error(w + ".path", "must start with '/' and use only letters, digits and . _ ~ - /")
        elif out.path.rstrip("/") in _RESERVED_PATHS:
            c.error(w + ".path", "%s is reserved for the service itself" % out.path)
    if "username" not in data:
        c.error(w, "missing required username")
    out.username = c.string(w + ".username", data.get("username", "x"))
    if out.username and ":" in out.username:
        c.error(w + ".username", "must not contain ':' (basic auth cannot carry it)")
    out.password = c.secret(w, data, "password", required=True)
    nets = data.get("allowed_networks", [])
    out.allowed_networks = []
    if not isinstance(nets, list):
        c.error(w + ".allowed_networks", "must be a list of networks (CIDR), got %s" % _type_name(nets))
    else:
        for i, net in enumerate(nets):
            where = "%s.allowed_networks[%d]" % (w, i)
            if c.string(where, net) is None:
                continue
            try:
                out.allowed_networks.append(ipaddress.ip_network(net.strip(), strict=False))
            except ValueError:
                c.error(where, "%r is not a network (e.g. 10.0.0.0/24 or 10.0.0.5)" % net)
    cert, key = data.get("tls_cert"), data.get("tls_key")
    out.tls_cert = out.tls_key = None
    if (cert is None) != (key is None):
        c.error(w, "set both tls_cert and tls_key, or neither")
    elif cert is not None:
        out.tls_cert = c.readable_file(w + ".tls_cert", cert)
        out.tls_key = c.readable_file(w + ".tls_key", key, private=True)
        if out.tls_cert and out.tls_key:
            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(out.tls_cert, out.tls_key)
            except (ssl.SSLError, OSError) as e:
                c.error(w + ".tls_cert", "the certificate and key cannot be used together (%s)" % e)
    out.max_body_bytes = c.integer(w + ".max_body_bytes", data.get("max_body_bytes", 1048576), 1024, 64 << 20)
    out.threads = c.integer(w + ".threads", data.get("threads", 8), 1, 64)
    out.shutdown_timeout_s = c.integer(w + ".shutdown_timeout_s", data.get("shutdown_timeout_s", 30), 1, 3600)
    out.log_level = c.string(w + ".log_level", data.get("log_level", "INFO"))
    if out.log_level is not None:
        out.log_level = out.log_level.upper()
        if out.log_level not in LOG_LEVELS:
            c.error(w + ".log_level", "must be one of %s" % ", ".join(LOG_LEVELS))
    return out


def _prism(c, data):
    w = "prism"
    c.unknown_keys(w, data, ("host", "port", "username", "password_file", "password_env", "password",
                             "validate_certs", "timeout"))
    out = Section()
    if "host" not in data:
        c.error(w, "missing required host")
    out.host = c.string(w + ".host", data.get("host", "x"))
    out.port = c.integer(w + ".port", data.get("port", 9440), 1, 65535)
    if "username" not in data:
        c.error(w, "missing required username")
    out.username = c.string(w + ".username", data.get("username", "x"))
    out.password = c.secret(w, data, "password", required=True)
    out.validate_certs = c.boolean(w + ".validate_certs", data.get("validate_certs", True))
    out.timeout = c.integer(w + ".timeout", data.get("timeout", 30), 1, 600)
    return out


def _plugin(c, data):
    w = "plugin"
    c.unknown_keys(w, data, ("name", "options"))
    out = Section()
    if "name" not in data:
        c.error(w, "missing required name (log, panos, or module:attribute)")
    out.name = c.string(w + ".name", data.get("name", "log"))
    options = data.get("options", {})
    if options is None:
        options = {}
    if not isinstance(options, dict):
        c.error(w + ".options", "must be a mapping, got %s" % _type_name(options))
        options = {}
    out.options = resolve_secrets(c, w + ".options", options)
    return out


def _queue(c, data):
    w = "queue"
    c.unknown_keys(w, data, ("path", "batch_max_events", "batch_window_ms", "max_attempts", "backoff_initial_s",
                             "backoff_max_s", "dedupe_window_s"))
    out = Section()
    if "path" not in data:
        c.error(w, "missing required path (the SQLite file of the queue)")
    path = c.string(w + ".path", data.get("path", "x"))
    # The directory may not exist yet when the configuration is checked (systemd's StateDirectory= makes it
    # at service start); the queue reports a missing one when it opens.
    out.path = c.path(path) if path else None
    out.batch_max_events = c.integer(w + ".batch_max_events", data.get("batch_max_events", 500), 1, 10000)
    out.batch_window_ms = c.integer(w + ".batch_window_ms", data.get("batch_window_ms", 0), 0, 60000)
    out.max_attempts = c.integer(w + ".max_attempts", data.get("max_attempts", 10), 1, 1000)
    out.backoff_initial_s = c.number(w + ".backoff_initial_s", data.get("backoff_initial_s", 1.0), 0.001, 3600)
    out.backoff_max_s = c.number(w + ".backoff_max_s", data.get("backoff_max_s", 300.0), 0.001, 86400)
    if out.backoff_initial_s and out.backoff_max_s and out.backoff_max_s < out.backoff_initial_s:
        c.error(w + ".backoff_max_s", "must not be smaller than backoff_initial_s")
    out.dedupe_window_s = c.integer(w + ".dedupe_window_s", data.get("dedupe_window_s", 300), 0, 86400)
    return out


def _reconcile(c, data):
    w = "reconcile"
    c.unknown_keys(w, data, ("interval_minutes",))
    out = Section()
    out.interval_minutes = c.integer(w + ".interval_minutes", data.get("interval_minutes", 15), 0, 10080)
    return out


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
    c = _Checker(os.path.dirname(path), read_secrets=read_secrets)
    c.unknown_keys("", data, _SECTIONS)
    config = Section(source=path)
    sections = {
        "listener": (_listener, True), "prism": (_prism, False), "plugin": (_plugin, True),
        "queue": (_queue, True), "reconcile": (_reconcile, False),
    }
    for name, (build, required) in sections.items():
        section = _mapping(c, name, data.get(name), required)
        # prism is optional (only plugins that read VMs need it): absent means None, not defaults.
        absent = name == "prism" and data.get(name) is None
        setattr(config, name, build(c, section) if section is not None and not absent else None)
    if not c.errors and check_plugin:
        # Imported here: api imports this module for ConfigError.
        from .api import PluginLoadError, load_plugin_class
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
