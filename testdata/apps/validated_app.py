"""An echo app wrapped in wsgiref.validate.validator, which raises on any PEP 3333 violation."""
from wsgiref.validate import validator


def echo(environ, start_response):
    parts = []
    while True:  # the validator allows only read(size)
        part = environ["wsgi.input"].read(8192)
        if not part:
            break
        parts.append(part)
    body = b"".join(parts)
    out = b"%s %s %d:" % (environ["REQUEST_METHOD"].encode(), environ["PATH_INFO"].encode("latin-1"), len(body)) + body
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


app = validator(echo)
