"""Returns $FOO, as set by `pogo -e FOO=bar`."""
import os


def app(environ, start_response):
    body = os.environ.get("FOO", "<unset>").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
