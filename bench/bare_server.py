"""BENCH ONLY: the ceiling for the ingest benchmark — never deployed, not part of the listener.

The listener's own gunicorn settings (``ListenerServer.load_config``: one gthread worker, the same threads,
keep-alive and timeouts) and a Flask app configured as the listener's, whose webhook route reads the body and
answers 200 without authenticating, parsing or persisting anything. The difference between this and the real
listener is what authentication, validation, the fsync'd SQLite commit and logging cost.

    PYTHONPATH=roles/listener/files:.collections python bench/bare_server.py --config listener.yml
"""
import argparse
import sys

from flask import Flask, jsonify, request

from netevents_listener.config import load_config
from netevents_listener.logs import setup_logging
from netevents_listener.server import ListenerServer


def bare_app(settings):
    app = Flask("netevents_listener_bare", static_folder=None)
    app.json.sort_keys = False

    @app.post(settings.path, provide_automatic_options=False)
    def callback():
        request.get_data()
        return jsonify(status="ok")

    @app.get("/healthz", provide_automatic_options=False)
    def healthz():
        return jsonify(ok=True)

    return app


class BareServer(ListenerServer):
    def load(self):
        return bare_app(self.config.listener)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    config = load_config(args.config, check_plugin=False)
    setup_logging(config.listener.log_level)
    BareServer(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
