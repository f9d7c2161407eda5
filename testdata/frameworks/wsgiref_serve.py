"""Serve a WSGI app with the stdlib wsgiref server (reference implementation
for pogo's differential tests).

Usage: python wsgiref_serve.py MODULE:CALLABLE

Adds this file's directory to sys.path, imports the app, binds 127.0.0.1 on
an ephemeral port, prints exactly one line ``PORT <n>`` to stdout, then serves
forever (one thread per connection, no request logging).
"""

import importlib
import os
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


def load_app(spec):
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit("usage: wsgiref_serve.py MODULE:CALLABLE")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def main(argv):
    if len(argv) != 2:
        print("usage: wsgiref_serve.py MODULE:CALLABLE", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    app = load_app(argv[1])
    server = ThreadingWSGIServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(app)
    sys.stdout.write("PORT %d\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
