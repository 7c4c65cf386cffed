"""BENCH ONLY: the EDA event source's receiver on its own, for the ingest comparison.

The collection's ansible-rulebook source (extensions/eda/plugins/event_source/nutanix_webhook.py: aiohttp, the
shared receiver pipeline, basic auth) served as ansible-rulebook serves it, with a consumer that takes every event
off its asyncio queue at once - the queue is in memory, nothing is written to disk, as under ansible-rulebook.
Logging at WARNING, as ansible-rulebook without -v. Adds GET /healthz for the bench's readiness check.

    PYTHONPATH=.collections python bench/eda_receiver.py --config listener.yml   # port, path, username; password file
"""
import argparse
import asyncio
import importlib.util
import logging
import os
import sys

import yaml
from aiohttp import web

BENCH = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(os.path.dirname(BENCH), "extensions", "eda", "plugins", "event_source", "nutanix_webhook.py")


def load_source():
    spec = importlib.util.spec_from_file_location("nutanix_webhook_source", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def serve(args):
    source = load_source()
    settings = source.Settings(args)
    queue = asyncio.Queue()
    app = source.make_app(queue, settings)

    async def healthz(_request):
        return web.json_response({"ok": True})
    app.router.add_get("/healthz", healthz)

    async def consume():
        while True:
            await queue.get()
    consumer = asyncio.ensure_future(consume())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    try:
        await asyncio.Future()
    finally:
        consumer.cancel()
        await runner.cleanup()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a listener config.yml: its listener section is used")
    args = parser.parse_args(argv)
    with open(args.config) as f:
        lc = yaml.safe_load(f)["listener"]
    with open(os.path.join(os.path.dirname(os.path.abspath(args.config)), lc["password_file"])) as f:
        password = f.read().strip()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve({"host": lc.get("host", "127.0.0.1"), "port": lc["port"],
                       "path": lc.get("path", "/listener/callback"), "username": lc["username"],
                       "password": password, "allowed_networks": ["127.0.0.0/8"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
