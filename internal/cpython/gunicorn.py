
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
