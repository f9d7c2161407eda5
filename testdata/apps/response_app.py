"""Response framing and start_response cases, chosen by PATH_INFO."""
import io
import sys


def app(environ, start_response):
    path = environ["PATH_INFO"]
    text = [("Content-Type", "text/plain")]

    if path == "/list":
        start_response("200 OK", text)
        return [b"hello ", b"world"]
    if path == "/sized":
        # ?N[&pad=M]: N bytes in two parts, a head padded by an M-byte header.
        n, _, pad = environ["QUERY_STRING"].partition("&pad=")
        body = bytes(i % 251 for i in range(int(n)))
        start_response("200 OK", text + [("X-Pad", "p" * int(pad or 0))])
        return [body[: len(body) // 2], body[len(body) // 2 :]]
    if path == "/tuple":
        start_response("201 Created", text)
        return (b"made",)
    if path == "/gen":
        start_response("200 OK", text)
        return (b"part%d;" % i for i in range(3))
    if path == "/gen_cl":
        start_response("200 OK", text + [("Content-Length", "6")])
        return (b for b in [b"abc", b"def"])
    if path == "/empty_gen":
        start_response("200 OK", text)
        return iter([])
    if path == "/write":
        write = start_response("200 OK", text)
        write(b"written;")
        return [b"returned"]
    if path == "/head_aware":
        # Like Werkzeug: the length of the GET body, and no body for HEAD.
        start_response("200 OK", text + [("Content-Length", "11")])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [b"hello world"]
    if path == "/204":
        start_response("204 No Content", [])
        return [b"ignored body"]
    if path == "/304":
        start_response("304 Not Modified", [("ETag", '"x"')])
        return []
    if path == "/conn_close":
        start_response("200 OK", text + [("Connection", "close")])
        return [b"bye"]
    if path == "/hop":
        start_response("200 OK", text + [("Keep-Alive", "timeout=99"), ("Transfer-Encoding", "gzip"), ("X-Ok", "1")])
        return [b"hop"]
    if path == "/custom_reason":
        start_response("299 Fine Thanks", text)
        return [b"ok"]
    if path == "/file":
        f = open(environ["QUERY_STRING"], "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f, 4096)
    if path == "/file_offset":
        f = open(environ["QUERY_STRING"], "rb")
        f.read(10)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f)
    if path == "/filelike":
        start_response("200 OK", text)
        return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * 10000), 1000)
    if path == "/bad_header_latin1":
        start_response("200 OK", [("X-Name", "snow \u2603 man")])
        return [b"never"]
    if path == "/bad_header_crlf":
        start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: evil=1")])
        return [b"never"]
    if path == "/bad_header_name":
        start_response("200 OK", [("X Evil", "1")])
        return [b"never"]
    if path == "/bad_status":
        start_response("OK", text)
        return [b"never"]
    if path == "/bad_headers_type":
        start_response("200 OK", {"a": "b"})
        return [b"never"]
    if path == "/exc_before":
        raise RuntimeError("boom before headers")
    if path == "/exc_after":
        start_response("200 OK", text)

        def gen():
            yield b"first chunk;"
            raise RuntimeError("boom after headers")

        return gen()
    if path == "/exc_info_before":
        start_response("200 OK", text)
        try:
            raise ValueError("handled")
        except ValueError:
            start_response("500 Oops", text, sys.exc_info())
        return [b"custom error page"]
    if path == "/exc_info_after":
        write = start_response("200 OK", text)
        write(b"already sent;")
        try:
            raise ValueError("too late to handle")
        except ValueError:
            start_response("500 Oops", text, sys.exc_info())
        return [b"unreachable"]
    if path == "/twice":
        start_response("200 OK", text)
        start_response("200 OK", text)
        return [b"never"]
    if path == "/no_start":
        return [b"body without start_response"]
    if path == "/str_body":
        start_response("200 OK", text)
        return ["not bytes"]
    if path == "/errors":
        err = environ["wsgi.errors"]
        err.write("wsgi.errors line one\n")
        err.writelines(["line two\n", "line three\n"])
        err.flush()
        start_response("200 OK", text)
        return [b"logged"]
    start_response("404 Not Found", text)
    return [b"no route " + path.encode("latin-1")]
