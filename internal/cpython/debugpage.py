

# ---- debug pages (--debug) ----
#
# An exception before the response started, rendered for the developer:
# the traceback with each frame's source lines and locals, the request,
# and the versions. The page is static: nothing on it runs code, and
# nothing in it comes from the client unescaped.

import html as _html
import linecache as _linecache
import reprlib as _reprlib
import traceback as _traceback

_repr = _reprlib.Repr()
_repr.maxstring = 240
_repr.maxother = 240
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 20
_CONTEXT = 5  # source lines shown around a frame's line


def _safe_repr(value):
    try:
        return _repr.repr(value)
    except BaseException as e:  # a broken __repr__ must not break the page
        return "<repr failed: %s: %s>" % (type(e).__name__, e)


def _wants_html(environ):
    accept = environ.get("HTTP_ACCEPT", "").lower()
    html_at = accept.find("text/html")
    plain_at = accept.find("text/plain")
    return html_at >= 0 and (plain_at < 0 or html_at < plain_at)


def _chain(exc):
    """The exception and those it was raised from or during, oldest first,
    as the interpreter prints them."""
    out, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out.append(exc)
        if exc.__cause__ is not None:
            exc = exc.__cause__
        elif exc.__context__ is not None and not exc.__suppress_context__:
            exc = exc.__context__
        else:
            exc = None
    return out[::-1]


def _frames(exc):
    """(filename, lineno, function, [(n, line)], locals) for each frame of
    exc's traceback, innermost last; a SyntaxError's offending line is one
    more frame without locals."""
    out = []
    tb = exc.__traceback__
    while tb is not None:
        f = tb.tb_frame
        filename, lineno = f.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
        if filename.startswith(("<pogo", "<frozen")):
            continue  # pogo's loading and importlib's machinery: not the app's
        out.append((filename, lineno, f.f_code.co_name, _source(filename, lineno, f.f_globals),
                    [(k, _safe_repr(v)) for k, v in f.f_locals.items()]))
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        out.append((exc.filename, exc.lineno, "<module>", _source(exc.filename, exc.lineno, None), []))
    return out


def _source(filename, lineno, module_globals):
    _linecache.checkcache(filename)
    if not _linecache.getline(filename, lineno, module_globals):
        return []  # no source to show (a C extension, a string)
    lines = []
    for n in range(max(1, lineno - _CONTEXT), lineno + _CONTEXT + 1):
        line = _linecache.getline(filename, n, module_globals)
        if not line and n > lineno:
            break
        lines.append((n, line.rstrip("\n")))
    return lines


def _request(environ):
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if environ.get("QUERY_STRING"):
        path += "?" + environ["QUERY_STRING"]
    headers = []
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            headers.append((k[5:].replace("_", "-").title(), v))
        elif k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            headers.append((k.replace("_", "-").title(), v))
    return method, path, sorted(headers), sorted((k, _safe_repr(v)) for k, v in environ.items())


def _versions(environ):
    return "%s, Python %s" % (environ.get("SERVER_SOFTWARE", "pogo"), sys.version.split()[0])


def debug_page(environ, exc, title=None):
    """The debug page of exc for the request of environ: (content type,
    body bytes), HTML for a browser and text for anything else."""
    chain = _chain(exc) if isinstance(exc, BaseException) else []
    if title is None:
        title = "".join(_traceback.format_exception_only(type(exc), exc)).strip() if chain else repr(exc)
    method, path, headers, env = _request(environ)
    if _wants_html(environ):
        page = "text/html", _html_page(title, chain, method, path, headers, env, _versions(environ))
    else:
        page = "text/plain", _text_page(title, chain, method, path, headers, env, _versions(environ))
    return page[0] + "; charset=utf-8", page[1].encode("utf-8", "replace")


def _text_page(title, chain, method, path, headers, env, versions):
    out = ["500 Internal Server Error (pogo --debug)", "", title, ""]
    for i, exc in enumerate(chain):
        if i:
            out += ["", "The above exception was the direct cause of the following exception:"
                    if exc.__cause__ is not None else
                    "During handling of the above exception, another exception occurred:", ""]
        out.append("Traceback (most recent call last):")
        for filename, lineno, func, source, local in _frames(exc):
            out.append('  File "%s", line %d, in %s' % (filename, lineno, func))
            for n, line in source:
                out.append("  %s %5d | %s" % (">" if n == lineno else " ", n, line))
            for k, v in local:
                out.append("        %s = %s" % (k, v))
        out.append("".join(_traceback.format_exception_only(type(exc), exc)).rstrip())
    out += ["", "Request: %s %s" % (method, path), ""]
    out += ["  %s: %s" % h for h in headers]
    out += ["", "Environ:", ""]
    out += ["  %s = %s" % kv for kv in env]
    out += ["", versions, ""]
    return "\n".join(out)


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; }
header { background: #a40000; color: #fff; padding: 12px 20px; }
header h1 { font-size: 18px; margin: 0; font-family: ui-monospace, monospace; word-break: break-word; }
header p { margin: 4px 0 0; opacity: .85; }
main { padding: 8px 20px 24px; }
h2 { font-size: 15px; margin: 20px 0 8px; }
.frame { border: 1px solid #ddd; border-radius: 4px; margin: 8px 0; }
.frame .where { background: #f4f4f4; padding: 6px 10px; font-family: ui-monospace, monospace; }
pre { margin: 0; padding: 6px 10px; overflow-x: auto; font: 13px/1.35 ui-monospace, monospace; }
.line { display: block; }
.current { background: #ffe3e3; font-weight: bold; }
table { border-collapse: collapse; font: 13px/1.35 ui-monospace, monospace; }
td { border-top: 1px solid #eee; padding: 2px 12px 2px 0; vertical-align: top; word-break: break-all; }
td:first-child { white-space: nowrap; color: #555; }
details { padding: 0 10px 6px; }
footer { color: #666; padding: 0 20px 20px; }
"""


def _html_page(title, chain, method, path, headers, env, versions):
    e = _html.escape
    out = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
           '<meta name="robots" content="noindex"><title>%s</title><style>%s</style></head><body>' % (e(title), _STYLE),
           '<header><h1 id="summary">%s</h1><p>500 Internal Server Error &middot; %s %s</p></header><main>'
           % (e(title), e(method), e(path))]
    for i, exc in enumerate(chain):
        if i:
            out.append("<p>%s</p>" % ("The above exception was the direct cause of the following exception:"
                                      if exc.__cause__ is not None else
                                      "During handling of the above exception, another exception occurred:"))
        out.append('<h2>Traceback <small>(most recent call last)</small></h2>')
        frames = _frames(exc)
        for j, (filename, lineno, func, source, local) in enumerate(frames):
            last = j == len(frames) - 1
            out.append('<div class="frame%s"><div class="where">File "%s", line %d, in <b>%s</b></div><pre>'
                       % (" last" if last else "", e(filename), lineno, e(func)))
            for n, line in source:
                out.append('<span class="line%s">%5d  %s</span>' % (" current" if n == lineno else "", n, e(line)))
            out.append("</pre>")
            if local:
                out.append('<details%s><summary>Locals</summary><table>' % (" open" if last else ""))
                out.extend("<tr><td>%s</td><td>%s</td></tr>" % (e(k), e(v)) for k, v in local)
                out.append("</table></details>")
            out.append("</div>")
        out.append('<pre class="exception">%s</pre>'
                   % e("".join(_traceback.format_exception_only(type(exc), exc)).rstrip()))
    out.append("<h2>Request</h2><table><tr><td>method</td><td>%s</td></tr><tr><td>path</td><td>%s</td></tr>"
               % (e(method), e(path)))
    out.extend("<tr><td>%s</td><td>%s</td></tr>" % (e(k), e(v)) for k, v in headers)
    out.append("</table><h2>Environ</h2><table>")
    out.extend("<tr><td>%s</td><td>%s</td></tr>" % (e(k), e(v)) for k, v in env)
    out.append("</table></main><footer>%s &middot; shown because pogo runs with --debug</footer></body></html>\n"
               % e(versions))
    return "".join(out)


class _LoadFailed:
    """The app of a worker whose app failed to import under --reload
    --debug: every request gets the page of that error, until an edit
    reloads the workers."""

    def __init__(self, spec, exc):
        self.spec, self.exc = spec, exc

    def __call__(self, environ, start_response):
        ctype, body = debug_page(environ, self.exc, title="The app %s could not be imported: %s" % (
            self.spec, "".join(_traceback.format_exception_only(type(self.exc), self.exc)).strip()))
        start_response("500 Internal Server Error", [("Content-Type", ctype), ("Cache-Control", "no-store")])
        return [body]
