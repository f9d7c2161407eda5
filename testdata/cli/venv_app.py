"""Returns sys.prefix and a name from pth_module, which is importable only
through a .pth file in the virtualenv's site-packages."""
import sys

import pth_module


def app(environ, start_response):
    body = ("%s\n%s" % (sys.prefix, pth_module.NAME)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
