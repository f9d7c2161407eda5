"""Bodies that disagree with the app's own Content-Length, one route per
response path. The query string sets them: cl= the Content-Length the app
declares, n= how many body bytes it has (byte i is i % 251), and for the
file routes path= the file and seek= where the file object starts."""
import io
from urllib.parse import parse_qs


def data(n, start=0):
    return bytes(i % 251 for i in range(start, start + n))


def app(environ, start_response):
    route = environ["PATH_INFO"]
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    cl = q.get("cl")
    n = int(q.get("n", "0"))
    headers = [("Content-Type", "application/octet-stream")]
    if cl is not None:
        headers.append(("Content-Length", cl))

    if route == "/ok":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    if route == "/file":
        # Falcon's Range responses: the file object positioned at the
        # range's start, Content-Length its length.
        f = open(q["path"], "rb")
        f.seek(int(q.get("seek", "0")))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, int(q.get("blksize", "8192")))
    if route == "/bytesio":
        # A file_wrapper over a file-like object with no descriptor: the
        # iterating path.
        f = io.BytesIO(data(n))
        f.seek(int(q.get("seek", "0")))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, int(q.get("blksize", "1000")))
    if route == "/list":
        # Buffered: one list of bytes, in two parts.
        body = data(n)
        start_response("200 OK", headers)
        return [body[: n // 2], body[n // 2 :]]
    if route == "/gen":
        # Streamed: chunks of chunk= bytes from a generator.
        size = int(q.get("chunk", "1000"))
        body = data(n)

        def gen():
            for i in range(0, n, size):
                yield body[i : i + size]

        start_response("200 OK", headers)
        return gen()
    if route == "/write":
        # The write() callable, in chunks of chunk= bytes, then an empty
        # list.
        size = int(q.get("chunk", "1000"))
        body = data(n)
        write = start_response("200 OK", headers)
        for i in range(0, n, size):
            write(body[i : i + size])
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no route " + route.encode("latin-1")]
