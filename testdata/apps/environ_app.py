"""Returns the environ as JSON: str values as they are, other values described."""
import json


def app(environ, start_response):
    out = {}
    for k, v in environ.items():
        if isinstance(v, str):
            out[k] = v
        elif k == "wsgi.version":
            out[k] = list(v)
        elif isinstance(v, bool):
            out[k] = v
        else:
            out[k] = "<%s>" % type(v).__name__
    out["wsgi.input.has"] = sorted(m for m in ("read", "readline", "readlines", "__iter__") if hasattr(environ["wsgi.input"], m))
    out["wsgi.errors.has"] = sorted(m for m in ("write", "writelines", "flush") if hasattr(environ["wsgi.errors"], m))
    body = json.dumps(out, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
