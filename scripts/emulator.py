"""The local DynamoDB + SSM emulator: moto's server, with every request applied atomically.

moto's own `moto_server` serves requests on concurrent threads without a lock, so two
conditional writes racing on one item can both pass their condition: DynamoDB never allows
that. One lock around each request restores DynamoDB's per-request atomicity (connections are
still accepted concurrently, so the SDK's pooled keep-alive connections do not starve).
"""

import argparse
import copy
import os
import signal
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def item_scoped_transactions() -> None:
    original = dynamodb_models.DynamoDBBackend.transact_write_items
    deepcopy = copy.deepcopy

    def no_table_copies(value, memo=None):
        return value if isinstance(value, Table) else deepcopy(value, memo)

    def transact_write_items(self, transact_items):
        saved = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            key = op.get("Key") or op.get("Item") or {}
            if table is None or table.hash_key_attr not in key:
                continue
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = None
            if table.range_key_attr:
                if table.range_key_attr not in key:
                    continue
                range_key = DynamoType(key[table.range_key_attr])
            old = table.get_item(hash_key, range_key)
            saved.append((table, hash_key, range_key, deepcopy(old)))
        dynamodb_models.copy.deepcopy = no_table_copies
        try:
            return original(self, transact_items)
        except Exception:
            # Undo what was applied before the transaction failed, last first.
            for table, hash_key, range_key, old in reversed(saved):
                if old is None:
                    table.delete_item(hash_key, range_key)
                elif range_key is not None:
                    table.items[hash_key][range_key] = old
                else:
                    table.items[hash_key] = old
            raise
        finally:
            dynamodb_models.copy.deepcopy = deepcopy

    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    item_scoped_transactions()
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def atomic(environ, start_response):
        with lock:
            # Materialise the body inside the lock: the response is part of the request.
            return list(app(environ, start_response))

    run_simple(args.host, args.port, atomic, threaded=True)


if __name__ == "__main__":
    main()
