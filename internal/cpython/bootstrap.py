"""pogo's helper module, run once at start-up as the body of module _pogo.

Nothing here is on the request path: the gateway in gateway.c calls the app
directly. This code finds and loads the app the way gunicorn does.
"""
import ast
import importlib
import json
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


_load_error = None  # the exception of the last load that failed


def load(spec):
    """Import MODULE:CALLABLE or MODULE:factory(args) and return the callable.

    "paste:" followed by JSON {"path", "name", "vars"} loads the app of a
    PasteDeploy config file instead (pogo development.ini). "failed:SPEC"
    is the stand-in for SPEC after its load failed: an app that answers
    with the page of that failure (debugpage.py).
    """
    global _load_error
    if spec.startswith("failed:"):
        return _LoadFailed(spec[len("failed:"):], _load_error)  # noqa: F821 (debugpage.py)
    try:
        return _load(spec)
    except BaseException as e:
        _load_error = e
        raise


def _load(spec):
    if spec.startswith("paste:"):
        return _load_paste(**json.loads(spec[len("paste:"):]))
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
    return hooked(obj)  # noqa: F821 (gunicorn.py: pre_request, post_request)


def _load_paste(path, name, vars):
    """The app [app:NAME] (or pipeline, composite, ...) of a PasteDeploy
    file, after applying its logging sections, as pserve does."""
    try:
        from paste.deploy import loadapp
    except ImportError:
        raise AppError(
            "%s is a PasteDeploy config file, and PasteDeploy is not installed "
            "in the app's environment: pip install PasteDeploy" % path
        ) from None
    _setup_logging(path, vars or {})
    try:
        return hooked(loadapp("config:" + path, name=name, global_conf=vars or {}))  # noqa: F821
    except LookupError as e:
        # No such section or entry point: the file's fault, said in one line.
        raise AppError("%s: %s" % (path, e)) from None


def _setup_logging(path, global_conf):
    """logging.config.fileConfig for a file with a [loggers] section, with
    here and __file__ defined (plaster_pastedeploy's setup_logging)."""
    import configparser
    import logging.config

    parser = configparser.ConfigParser()
    parser.read([path])
    if parser.has_section("loggers"):
        defaults = dict(global_conf, here=os.path.dirname(path), __file__=path)
        logging.config.fileConfig(path, defaults, disable_existing_loggers=False)


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


# os._exit(n) in a request ends that request, then the process with n, once
# its other requests are done (fault.c); elsewhere it is os._exit.
os._exit = exit_in_request  # noqa: F821 (set by fault.c)
