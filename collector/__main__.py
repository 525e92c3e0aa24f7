"""`python -m collector`: serve the collector with uvicorn, configured from COLLECTOR_* variables."""
from __future__ import annotations

import logging
import os
import sys

import uvicorn

from .app import create_app
from .settings import SettingsError, from_env


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # the registry client logs every request
    try:
        settings = from_env(os.environ)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    # One worker process: the bounded queue and the rate limits are per process (scale out with
    # more replicas). uvicorn's graceful shutdown runs the lifespan's flush on SIGTERM.
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from 127.0.0.1 as the client;
    # the app alone decides whom to believe (COLLECTOR_TRUSTED_PROXIES).
    uvicorn.run(create_app(settings), host=settings.listen_host, port=settings.listen_port,
                log_level="warning", access_log=False, proxy_headers=False, timeout_graceful_shutdown=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
