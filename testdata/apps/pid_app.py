"""Answers "VERSION PID": which worker process served, and which code.

?sleep=SECONDS makes the request take that long; it is announced on stderr
first, for the tests to wait on ("pid_app: in the app, sleeping S s").
"""
import os
import sys
import time

VERSION = "v1"


def app(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if query.startswith("sleep="):
        secs = float(query[len("sleep="):])
        print("pid_app: in the app, sleeping %g s" % secs, file=sys.stderr, flush=True)
        time.sleep(secs)
    body = ("%s %d\n" % (VERSION, os.getpid())).encode()
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
        ("X-Pid", str(os.getpid())),
    ])
    return [body]
