"""response_app's routes plus /echo: the body read in pieces, and the environ."""
import json

from response_app import app as responses


def app(environ, start_response):
    if environ["PATH_INFO"] != "/echo":
        return responses(environ, start_response)
    n = 0
    while True:
        b = environ["wsgi.input"].read(8192)
        if not b:
            break
        n += len(b)
    out = {k: v for k, v in environ.items() if isinstance(v, str)}
    out["body_len"] = n
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]
