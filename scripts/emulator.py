"""The local DynamoDB + SSM emulator: moto's server, with every request applied atomically.

moto's own `moto_server` serves requests on concurrent threads without a lock, so two
conditional writes racing on one item can both pass their condition: DynamoDB never allows
that. One lock around each request restores DynamoDB's per-request atomicity (connections are
still accepted concurrently, so the SDK's pooled keep-alive connections do not starve).
"""

import argparse
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def atomic(environ, start_response):
        with lock:
            # Materialise the body inside the lock: the response is part of the request.
            return list(app(environ, start_response))

    run_simple(args.host, args.port, atomic, threaded=True)


if __name__ == "__main__":
    main()
