
# ---- gunicorn config files (appended to bootstrap.py: part of _pogo) ----
#
# A gunicorn config file is Python: pogo executes it as gunicorn does (a
# module named __config__, or python:MODULE imported), reads the settings
# gunicorn knows from its namespace, and keeps the hooks (callables) to call
# them later where gunicorn would.

_hooks = {}


def _jsonable(v):
    """A setting's value as JSON can carry it: callables and classes by
    their dotted name, other objects by their repr."""
    if isinstance(v, (str, bool, int, float)) or v is None:
        return v
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, type) or callable(v):
        return {"callable": "%s.%s" % (getattr(v, "__module__", "?"), getattr(v, "__qualname__", repr(v)))}
    return {"object": repr(v)}


def read_config(arg):
    """Execute a gunicorn config file and return its settings as JSON.

    arg is JSON {"location": FILE or python:MODULE, "names": [setting
    names], "hooks": [hook names]}. Returns {"settings": {name: value}}:
    the names found in the file's namespace, values made JSON; the hooks
    among them are kept in _hooks for call_hook.
    """
    import importlib.machinery
    import importlib.util

    a = json.loads(arg)
    location = a["location"]
    if location.startswith("python:"):
        ns = vars(importlib.import_module(location[len("python:"):]))
    else:
        if location.startswith("file:"):
            location = location[len("file:"):]
        if not os.path.exists(location):
            raise AppError("%r doesn't exist" % location)
        name = "__config__"
        loader = importlib.machinery.SourceFileLoader(name, location)
        spec = importlib.util.spec_from_file_location(name, location, loader=loader)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        ns = vars(mod)
    hooks = set(a["hooks"])
    out = {}
    for k in a["names"]:
        if k not in ns:
            continue
        v = ns[k]
        if k in hooks:
            if not callable(v):
                raise AppError("%s = %r: a hook must be callable" % (k, v))
            _hooks[k] = v
            out[k] = True
            continue
        out[k] = _jsonable(v)
    return json.dumps({"settings": out})


def set_environ(arg):
    """Set os.environ from JSON {KEY: VALUE} (the environment pogo set up
    after Python started)."""
    for k, v in json.loads(arg).items():
        os.environ[k] = v


def configure_logging(arg):
    """The app's logging as gunicorn's logconfig settings set it up: JSON
    {"file": fileConfig file, "json": dictConfig JSON file, "dict":
    dictConfig dict as JSON}, the first one given."""
    import logging.config

    a = json.loads(arg)
    conf = None
    if a.get("dict"):
        conf = json.loads(a["dict"])
    elif a.get("json"):
        with open(a["json"]) as f:
            conf = json.load(f)
    elif a.get("file"):
        path = a["file"]
        if not os.path.exists(path):
            raise AppError("--log-config: %s does not exist" % path)
        defaults = {"__file__": path, "here": os.path.dirname(path)}
        logging.config.fileConfig(path, defaults, disable_existing_loggers=False)
        return
    if conf is not None:
        merged = {"version": 1, "disable_existing_loggers": False}
        merged.update(conf)
        logging.config.dictConfig(merged)


# ---- gunicorn server hooks ----
#
# Hooks get objects shaped as gunicorn's: the server (Arbiter) and worker
# with .cfg, .log, .pid, .age, ...; requests and responses with what real
# pre_request and post_request hooks read.

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class _Log:
    """gunicorn's logger interface (server.log, worker.log), writing to
    pogo's error log in pogo's format."""

    def __init__(self, level="info"):
        self.level = _LEVELS.get(level, 20)

    def _write(self, level, name, msg, args, exc_info=False):
        if level < self.level:
            return
        import time
        import traceback

        if args:
            try:
                msg = msg % args
            except Exception:
                msg = "%s %r" % (msg, args)
        line = "%s [%d] [%s] %s\n" % (time.strftime("[%Y-%m-%d %H:%M:%S %z]"), os.getpid(), name, msg)
        if exc_info:
            line += "".join(traceback.format_exc())
        errors.write(line)  # noqa: F821 (wsgi.errors, set by gateway.c)

    def debug(self, msg, *args, **kw):
        self._write(10, "DEBUG", msg, args)

    def info(self, msg, *args, **kw):
        self._write(20, "INFO", msg, args)

    def warning(self, msg, *args, **kw):
        self._write(30, "WARNING", msg, args)

    warn = warning

    def error(self, msg, *args, **kw):
        self._write(40, "ERROR", msg, args)

    def critical(self, msg, *args, **kw):
        self._write(50, "CRITICAL", msg, args)

    def exception(self, msg, *args, **kw):
        self._write(40, "ERROR", msg, args, exc_info=True)

    def log(self, lvl, msg, *args, **kw):
        if isinstance(lvl, str):
            lvl = _LEVELS.get(lvl.lower(), 20)
        name = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}.get(lvl, "INFO")
        self._write(lvl, name, msg, args)

    def reopen_files(self):
        pass

    def close_on_exec(self):
        pass


class _Config:
    """server.cfg: the settings as pogo resolved them, by gunicorn's names;
    a setting gunicorn documents and nobody gave is None."""

    def __init__(self, settings, names):
        self.__dict__.update(settings)
        self._names = set(names)

    def __getattr__(self, name):
        if name in self._names:
            return None
        raise AttributeError("No configuration setting for: %s" % name)

    @property
    def worker_class_str(self):
        return self.__dict__.get("worker_class") or "sync"

    @property
    def env(self):
        return dict(kv.split("=", 1) for kv in self.__dict__.get("raw_env") or [] if "=" in kv)

    @property
    def address(self):
        return list(self.__dict__.get("bind") or [])


class _Server:
    """The master, as gunicorn's Arbiter shows itself to hooks."""

    def __init__(self, d):
        self.cfg = _state["cfg"]
        self.log = _state["log"]
        self.update(d)

    def update(self, d):
        self.pid = d.get("pid", os.getpid())
        self.num_workers = d.get("workers", 1)
        self.proc_name = d.get("proc_name") or "pogo"
        self.address = d.get("address", [])
        self.WORKERS = {w.pid: w for w in _workers.values() if w.pid}


class _Worker:
    """A worker, as gunicorn's Worker shows itself to hooks."""

    def __init__(self, d):
        self.cfg = _state["cfg"]
        self.log = _state["log"]
        self.alive = True
        self.booted = False
        self.aborted = False
        self.nr = 0
        self.tmp = None
        self.wsgi = None
        self.max_requests = getattr(self.cfg, "max_requests", 0) or sys.maxsize
        self.timeout = getattr(self.cfg, "timeout", 0)
        self.update(d)

    def update(self, d):
        self.age = d.get("age", 0)
        self.pid = d.get("pid")
        self.ppid = d.get("ppid", os.getppid())

    def __str__(self):
        return "<Worker %s>" % self.pid


_state = {"cfg": None, "log": _Log(), "server": None, "worker": None}
_workers = {}  # in the master: by age (pogo's worker id)


def set_settings(arg):
    """The resolved settings for server.cfg, from JSON {"settings":
    {name: value}, "names": [every setting name], "loglevel": LEVEL}."""
    a = json.loads(arg)
    _state["cfg"] = _Config(a["settings"], a["names"])
    _state["log"] = _Log(a.get("loglevel", "info"))


def _kept(store, key, cls, d):
    """The object kept in store[key], made as cls(d) the first time and
    updated with d after: a hook sees the object an earlier one saw."""
    obj = store.get(key)
    if obj is None:
        obj = store[key] = cls(d)
    else:
        obj.update(d)
    return obj


def _server(d):
    return _kept(_state, "server", _Server, d)


def _worker(d, this_process):
    if this_process:
        return _kept(_state, "worker", _Worker, d)
    return _kept(_workers, d.get("age", 0), _Worker, d)


_SERVER_ONLY = {"on_starting", "on_reload", "when_ready", "on_exit", "pre_exec"}
_WORKER_ONLY = {"post_worker_init", "worker_int", "worker_abort"}


def call_hook(arg):
    """Call a hook of the config file: JSON {"hook", "server": {...},
    "worker": {...}, "this_process": bool (the worker is this process),
    "args": [...]}. Returns JSON {"env": {KEY: VALUE or null}}: what the
    hook changed in os.environ, for the processes pogo starts next."""
    a = json.loads(arg)
    name = a["hook"]
    fn = _hooks.get(name)
    if fn is None:
        return "{}"
    before = dict(os.environ)
    server = _server(a.get("server") or {})
    worker = _worker(a["worker"], a.get("this_process", False)) if "worker" in a else None
    if name in _SERVER_ONLY:
        args = (server,)
    elif name in _WORKER_ONLY:
        args = (worker,)
    elif name == "nworkers_changed":
        args = (server,) + tuple(a.get("args", ()))
    else:
        args = (server, worker)
    if name == "child_exit":
        _workers.pop(worker.age, None)
        worker.alive = False
    if name == "post_worker_init":
        worker.booted = True
    fn(*args)
    after = os.environ
    env = {k: v for k, v in after.items() if before.get(k) != v}
    env.update({k: None for k in before if k not in after})
    return json.dumps({"env": env})


class _Request:
    """The request, as gunicorn's hooks see it (req.method, req.path,
    req.headers, ...), from the environ."""

    def __init__(self, environ):
        self.method = environ.get("REQUEST_METHOD", "")
        self.path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        self.query = environ.get("QUERY_STRING", "")
        self.uri = environ.get("RAW_URI") or (self.path + ("?" + self.query if self.query else ""))
        self.scheme = environ.get("wsgi.url_scheme", "http")
        proto = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
        try:
            major, minor = proto.split("/", 1)[1].split(".", 1)
            self.version = (int(major), int(minor))
        except (IndexError, ValueError):
            self.version = (1, 1)
        self.headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
        for k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(k):
                self.headers.append((k.replace("_", "-"), environ[k]))
        self.remote_addr = environ.get("REMOTE_ADDR")
        self.peer_addr = (environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT"))
        self.body = environ.get("wsgi.input")


class _Response:
    """The response, as post_request sees it."""

    def __init__(self):
        self.status = None
        self.status_code = None
        self.headers = []
        self.sent = 0
        self.response_length = None


class _Closing:
    """The app's iterable, counting what it yields, with post_request
    called when the server closes it."""

    def __init__(self, it, resp, done):
        self._it = it
        self._resp = resp
        self._done = done

    def __iter__(self):
        for chunk in self._it:
            self._resp.sent += len(chunk)
            yield chunk

    def close(self):
        try:
            close = getattr(self._it, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


def hooked(app):
    """app, called between pre_request and post_request when the config
    file defines them; app itself when it defines neither."""
    pre = _hooks.get("pre_request")
    post = _hooks.get("post_request")
    if pre is None and post is None:
        return app
    if post is not None:
        import inspect

        try:
            nargs = len(inspect.signature(post).parameters)
        except (TypeError, ValueError):
            nargs = 4
    else:
        nargs = 4

    def hooked_app(environ, start_response):
        worker = _state["worker"] or _worker({"pid": os.getpid()}, True)
        req = _Request(environ)
        if pre is not None:
            pre(worker, req)
        if post is None:
            return app(environ, start_response)
        resp = _Response()

        def hooked_start_response(status, headers, exc_info=None):
            resp.status = status
            try:
                resp.status_code = int(status.split(None, 1)[0])
            except ValueError:
                pass
            resp.headers = list(headers)
            for k, v in headers:
                if k.lower() == "content-length":
                    resp.response_length = int(v) if v.isdigit() else None
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        def done():
            # gunicorn's post_request may take 2, 3 or 4 arguments.
            if nargs >= 4:
                post(worker, req, environ, resp)
            elif nargs == 3:
                post(worker, req, environ)
            else:
                post(worker, req)

        try:
            result = app(environ, hooked_start_response)
        except BaseException:
            done()
            raise
        return _Closing(result, resp, done)

    return hooked_app


# ---- gunicorn's loggers ----
#
# Apps reach for gunicorn's error logger (Flask's docs: app.logger.handlers
# = logging.getLogger("gunicorn.error").handlers); under pogo it writes to
# pogo's error log, in pogo's format, at --log-level.

import logging as _logging  # noqa: E402


class _ErrorsHandler(_logging.Handler):
    """Writes records to pogo's error log (wsgi.errors)."""

    def emit(self, record):
        try:
            msg = self.format(record)
        except Exception:
            self.handleError(record)
            return
        errors.write(msg + "\n")  # noqa: F821 (gateway.c)


def setup_loggers(level):
    """gunicorn.error, unless something configured it already."""
    log = _logging.getLogger("gunicorn.error")
    if log.handlers:
        return
    h = _ErrorsHandler()
    h.setFormatter(_logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S %z"))
    log.addHandler(h)
    log.setLevel(_LEVELS.get(level, 20))
    log.propagate = False


def log_format(_=None):
    """The %-style format and datefmt of gunicorn.error's first handler,
    when the app's logging config gave it one, as JSON; else {}."""
    for h in _logging.getLogger("gunicorn.error").handlers:
        if isinstance(h, _ErrorsHandler):
            break
        f = h.formatter
        if f is not None and type(f) is _logging.Formatter and isinstance(getattr(f, "_style", None), _logging.PercentStyle):
            return json.dumps({"fmt": f._fmt, "datefmt": f.datefmt or ""})
        break
    return "{}"
