"""An app module that fails at import: pogo must exit 4 and show the traceback."""

raise RuntimeError("broken_app fails at import")


def app(environ, start_response):  # never reached
    start_response("200 OK", [])
    return [b""]
