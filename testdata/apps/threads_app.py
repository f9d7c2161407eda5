"""Sleeps 10 ms and reports which Python thread ran it and its thread-local count."""
import threading
import time

local = threading.local()


def app(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or "0.01"))
    local.count = getattr(local, "count", 0) + 1
    body = b"%d %d" % (threading.get_ident(), local.count)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
