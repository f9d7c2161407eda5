"""An app that keeps its request's objects, to use them in a later request.

pogo reuses a thread's start_response and wsgi.input for the next request
when nothing else holds them; kept ones must stay ended, and the next
request must get its own.
"""
kept = {}
TEXT = [("Content-Type", "text/plain")]


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/keep":
        kept["start_response"] = start_response
        kept["input"] = environ["wsgi.input"]
        kept["write"] = start_response("200 OK", TEXT)
        return [b"kept"]
    if path == "/old":
        out = []
        for name, use in (
            ("start_response", lambda: kept["start_response"]("200 OK", TEXT)),
            ("write", lambda: kept["write"](b"x")),
            ("input", lambda: kept["input"].read()),
        ):
            try:
                use()
                out.append(name + ":usable")
            except ValueError:
                out.append(name + ":ended")
        start_response("200 OK", TEXT)
        return [" ".join(out).encode()]
    if path == "/kw":
        start_response(headers=TEXT, status="201 Created")
        return [b"kw"]
    if path == "/kw_bad":
        start_response("200 OK", TEXT, nope=1)
        return [b"unreachable"]
    body = environ["wsgi.input"].read()
    start_response("200 OK", TEXT)
    return [b"echo:" + body]
