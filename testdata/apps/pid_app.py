"""Answers "VERSION PID": which worker process served, and which code.

?sleep=SECONDS makes the request take that long.
"""
import os
import time

VERSION = "v1"


def app(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if query.startswith("sleep="):
        time.sleep(float(query[len("sleep="):]))
    body = ("%s %d\n" % (VERSION, os.getpid())).encode()
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
        ("X-Pid", str(os.getpid())),
    ])
    return [body]
