# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Structured logs: one JSON object per line on stderr, with every known secret value masked.

Secrets are kept out of log calls by design (config values are ``Secret`` objects whose ``repr`` is masked);
the redaction here is the second line of defence for text we do not control, such as an exception message
from a library or a plugin that quotes a password back.
"""
import datetime
import json
import logging
import sys
import threading

MASK = "********"
# Shorter values would mask ordinary words; secrets that short are refused or weak anyway.
_MIN_REDACT_LEN = 4
_secrets = set()
_lock = threading.Lock()

# Attributes every LogRecord has; anything else passed with ``extra=`` becomes a JSON field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def register_secret(value):
    """Mask *value* wherever it would appear in a log line or an error shown by the service."""
    if isinstance(value, str) and len(value) >= _MIN_REDACT_LEN:
        with _lock:
            _secrets.add(value)


def redact(text):
    if not isinstance(text, str):
        text = str(text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record):
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # Redact the whole line: secrets may hide in the message, an extra field or a traceback.
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def setup_logging(level="INFO", stream=None):
    """Send every logger (ours, gunicorn's, libraries') to one JSON handler on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # urllib3 logs every connection at DEBUG; keep it at INFO unless asked for.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.captureWarnings(True)
    return handler
