"""Leaks on purpose, for --max-memory (internal/cli TestMaxMemory).

    /       "PID": which worker answered
    /leak   keeps 1 MiB more for good (touched, so it is resident), then
            answers "PID"
"""
import os

kept = []


def app(environ, start_response):
    if environ["PATH_INFO"] == "/leak":
        kept.append(bytearray(os.urandom(16)) * (1 << 16))
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid()))])
    return [body]
