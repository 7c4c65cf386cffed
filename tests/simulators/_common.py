"""What both simulators share: a self-signed certificate made at start and a threaded HTTPS server.

Used in-process by pytest (``start()`` / ``stop()``) and standalone from each simulator's ``main()``.
"""
import datetime
import ipaddress
import os
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server


def make_self_signed_cert(directory, common_name="localhost"):
    """Write cert.pem and key.pem for localhost/127.0.0.1 into *directory*; return their paths."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


class ServerThread:
    """Serve a WSGI app over HTTPS (self-signed) on 127.0.0.1 in a background thread."""

    def __init__(self, app, host="127.0.0.1", port=0, tls=True):
        self.app = app
        self.host = host
        self.tls = tls
        self._requested_port = port
        self._server = None
        self._thread = None
        self._tmp = None
        self.cert_path = None
        self.port = None

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        return "%s://%s:%s" % (scheme, self.host, self.port)

    def start(self):
        ssl_context = None
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="netevents-sim-")
            self.cert_path, key_path = make_self_signed_cert(self._tmp.name)
            ssl_context = (self.cert_path, key_path)
        self._server = make_server(
            self.host, self._requested_port, self.app, threaded=True, ssl_context=ssl_context
        )
        self.port = self._server.server_port
        # A short poll interval makes stop() quick: fixtures start and stop servers often.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="sim-server", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def serve_forever(self):
        """Standalone mode: block until interrupted."""
        try:
            self._thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
