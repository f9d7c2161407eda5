"""pogo: a WSGI server in Go that embeds this Python.

The server is the pogo command (installed beside this package's Python);
``python -m pogo ARGS`` runs it too.
"""
from pogo._version import __version__  # noqa: F401
