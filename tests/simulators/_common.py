"""What both simulators share: a self-signed certificate made at start, a threaded HTTPS server, the lifecycle
around it, and the standalone mode (command-line options, a certificate published at a stable path).

Used in-process by pytest (``start()`` / ``stop()``) and standalone (``python -m tests.simulators.panos``,
``python -m tests.simulators.prism serve``).
"""
import datetime
import ipaddress
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import jsonify, request
from werkzeug.serving import ThreadedWSGIServer, load_ssl_context


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


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server, with the TLS handshake moved from the accepting loop into each connection's
    worker thread and a time limit on a silent connection: a client that connects and says nothing (the 2017 Go
    listener's connectivity check does) holds one worker until *idle_timeout*, never the whole server."""

    block_on_close = False      # stop() must not wait for a silent client's worker

    def __init__(self, host, port, app, tls_context, idle_timeout):
        try:    # no ssl_context here: it would wrap the listening socket
            super(_Server, self).__init__(host, port, app)
        except SystemExit:  # werkzeug exits the process when it cannot bind; a fault's resume() retries instead
            raise OSError("cannot listen on %s:%s" % (host, port))
        self.ssl_context = tls_context                   # werkzeug reads it for wsgi.url_scheme
        self.idle_timeout = idle_timeout

    def finish_request(self, request, client_address):
        request.settimeout(self.idle_timeout)            # the handshake, then each read of the request
        if self.ssl_context is None:
            super(_Server, self).finish_request(request, client_address)
            return
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)   # the handshake, in this worker
        except (ssl.SSLError, OSError):                  # silent past the timeout, not TLS, or gone
            return
        try:
            super(_Server, self).finish_request(conn, client_address)
        finally:
            conn.close()

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError, socket.timeout)):
            super(_Server, self).handle_error(request, client_address)


class ServerThread:
    """Serve a WSGI app over HTTPS (self-signed) on 127.0.0.1 in a background thread.

    *idle_timeout*: seconds a connection may stay silent (during the TLS handshake, or before and while it sends
    its request) before it is closed; other clients are served meanwhile. It applies to new connections.
    """

    def __init__(self, app, host="127.0.0.1", port=0, tls=True, idle_timeout=30.0):
        self.app = app
        self.host = host
        self.tls = tls
        self.idle_timeout = float(idle_timeout)
        self._requested_port = port
        self._server = None
        self._tmp = None
        self._key_path = None
        self._context = None
        self.cert_path = None
        self.port = None
        self.suspended = False

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        return "%s://%s:%s" % (scheme, self.host, self.port)

    @property
    def idle_timeout(self):
        return self._idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds):
        self._idle_timeout = float(seconds)
        if getattr(self, "_server", None) is not None:
            self._server.idle_timeout = self._idle_timeout

    def start(self):
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="netevents-sim-")
            self.cert_path, self._key_path = make_self_signed_cert(self._tmp.name)
            self._context = load_ssl_context(self.cert_path, self._key_path)
        self._listen(self._requested_port)
        self.port = self._server.server_port
        return self

    def _listen(self, port):
        self._server = _Server(self.host, port, self.app, self._context, self._idle_timeout)
        # A short poll interval makes stop() quick: fixtures start and stop servers often.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="sim-server",
                         daemon=True).start()

    def suspend(self):
        """Close the listening socket (clients get ECONNREFUSED); resume() reopens the same port."""
        if self._server is not None:
            self.suspended = True     # first: a resume() racing with the close must see it (and retry its bind)
            self._close()

    def resume(self):
        """Listen again on the same port with the same certificate, so clients keep trusting us."""
        if self.suspended:
            self._listen(self.port)
            self.suspended = False

    def stop(self):
        self._close()
        self.suspended = False
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _close(self):
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def from_loopback():
    """True when the Flask request comes from a loopback address: the /_sim/ test controls answer only those."""
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def add_test_controls(app, sim):
    """GET /_sim/stats and POST /_sim/reset, which both simulators have (sim.stats(), sim.reset())."""
    app.add_url_rule("/_sim/stats", "_sim_stats", lambda: jsonify(sim.stats()), methods=["GET"])

    def reset():
        sim.reset()
        return jsonify({"reset": True})
    app.add_url_rule("/_sim/reset", "_sim_reset", reset, methods=["POST"])


class Simulator(object):
    """The lifecycle both simulators share: a ServerThread for their Flask app, its address and certificate."""

    def __init__(self, app, host="127.0.0.1", port=0):
        self.app = app
        self._server = ServerThread(app, host=host, port=port)

    url = property(lambda self: self._server.url)
    host = property(lambda self: self._server.host)
    port = property(lambda self: self._server.port)
    cert_path = property(lambda self: self._server.cert_path, doc="its certificate (PEM): give it as verify=")

    @property
    def idle_timeout(self):
        """Seconds a connection may stay silent before it is closed (other clients are served meanwhile)."""
        return self._server.idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, seconds):
        self._server.idle_timeout = seconds

    def start(self):
        self._server.start()
        return self

    def stop(self):
        self._server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------- standalone mode
def default_cert_dir():
    """A private folder for the certificates standalone simulators publish: $XDG_RUNTIME_DIR/netevents-sim, or
    netevents-sim-<uid> in the temp dir."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "netevents-sim")
    return os.path.join(tempfile.gettempdir(), "netevents-sim-%d" % os.getuid())


def cert_file(name, host, port, cert_dir):
    """The stable path of the certificate a standalone simulator serves: ``<cert_dir>/prism-127.0.0.1-9440.pem``."""
    return os.path.join(cert_dir, "%s-%s-%s.pem" % (name.lower().replace("-", ""), host, port))


def add_connection_arguments(parser, port, username, password):
    """--host, --port, --username, --password and --cert-dir with a simulator's defaults (--help shows them)."""
    parser.add_argument("--host", default="127.0.0.1", help="the simulator's address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=port,
                        help="its HTTPS port (default: %(default)s; 0 = any free port, to serve)")
    parser.add_argument("--username", default=username, help="its one account (default: %(default)s)")
    parser.add_argument("--password", default=password, help="that account's password (default: %(default)s)")
    parser.add_argument("--cert-dir", default=default_cert_dir(), metavar="DIR",
                        help="where a standalone simulator publishes its self-signed certificate, as "
                             "<name>-<host>-<port>.pem (default: %(default)s)")


def _publish(cert_path, target):
    directory = os.path.dirname(target)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    info = os.lstat(directory)
    if not os.path.isdir(directory) or os.path.islink(directory) or info.st_uid != os.getuid():
        raise SystemExit("%s is not a folder of yours: choose another with --cert-dir" % directory)
    with open(cert_path, "rb") as source, tempfile.NamedTemporaryFile(dir=directory, delete=False) as copy:
        copy.write(source.read())
    os.chmod(copy.name, 0o644)
    os.replace(copy.name, target)


def serve(simulator, name, cert_dir):
    """Standalone mode: start, publish the certificate at its stable path, say where, run until SIGTERM/Ctrl-C."""
    simulator.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    published = cert_file(name, simulator.host, simulator.port, cert_dir)
    _publish(simulator.cert_path, published)
    try:
        print("%s simulator ready at %s" % (name, simulator.url), flush=True)
        print("CA certificate: %s" % published, flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        simulator.stop()
        os.remove(published)
    print("%s simulator stopped" % name, flush=True)
    return 0
