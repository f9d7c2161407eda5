"""pogo's helper module, run once at start-up as the body of module _pogo.

Nothing here is on the request path: the gateway in gateway.c calls the app
directly. This code finds and loads the app the way gunicorn does.
"""
import ast
import importlib
import os
import sys


class AppError(Exception):
    """A problem with the app spec, reported as one line without a traceback."""


def add_path(path):
    """Put the directory first on sys.path."""
    path = os.path.abspath(path)
    if path in sys.path:
        sys.path.remove(path)
    sys.path.insert(0, path)


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise AppError("failed to parse %r: factory arguments must be literals" % ast.dump(node)) from None


def load(spec):
    """Import MODULE:CALLABLE or MODULE:factory(args) and return the callable."""
    module, sep, expr = spec.partition(":")
    if not sep:
        expr = "application"
    if not module or not expr:
        raise AppError("invalid application spec %r: want MODULE:CALLABLE" % spec)
    try:
        node = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError:
        raise AppError("failed to parse %r as an attribute name or function call" % expr) from None

    if isinstance(node, ast.Name):
        name, args, kwargs = node.id, None, None
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        args = [_literal(a) for a in node.args]
        kwargs = {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg}
    else:
        raise AppError("failed to parse %r as an attribute name or function call" % expr)

    mod = importlib.import_module(module)
    try:
        obj = getattr(mod, name)
    except AttributeError:
        raise AppError("failed to find attribute %r in %r" % (name, module)) from None
    if args is not None:
        if not callable(obj):
            raise AppError("%s:%s is not callable, so it cannot be a factory" % (module, name))
        obj = obj(*args, **kwargs)
    if obj is None:
        raise AppError("%s:%s is None" % (module, expr))
    if not callable(obj):
        raise AppError("application object %s:%s must be callable" % (module, expr))
    return obj


def finalize(_=None):
    """Run atexit functions and flush stdio before the process exits."""
    import atexit

    try:
        atexit._run_exitfuncs()
    finally:
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:
                pass


def traceback_of(ident):
    """The stack of the thread with this ident, most recent call last."""
    import traceback

    frame = sys._current_frames().get(int(ident))
    if frame is None:
        return ""
    return "".join(traceback.format_stack(frame))
