"""Flask sample app for pogo's differential (pogo vs wsgiref) tests.

Every response is deterministic: no timestamps, no random values, JSON is
emitted with sorted keys.  Run with e.g. ``python wsgiref_serve.py flask_app:app``.
"""

import hashlib
import json

from flask import Flask, Response, redirect, request
from werkzeug.http import dump_cookie

app = Flask(__name__)


def json_response(data, status=200):
    body = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return Response(body + "\n", status=status, mimetype="application/json")


@app.after_request
def sort_allow_header(resp):
    # Werkzeug builds Allow (405 and automatic OPTIONS responses) from a set,
    # so its order depends on the per-process string hash seed; sort it.
    allow = resp.headers.get("Allow")
    if allow:
        methods = sorted(m.strip() for m in allow.split(",") if m.strip())
        resp.headers["Allow"] = ", ".join(methods)
    return resp


def multidict_lists(md):
    return {key: md.getlist(key) for key in md.keys()}


@app.get("/query")
def query():
    return json_response({"args": multidict_lists(request.args)})


@app.post("/form")
def form():
    return json_response(
        {"content_type": request.mimetype, "form": multidict_lists(request.form)}
    )


@app.post("/json")
def json_echo():
    data = request.get_json()
    computed = {"type": type(data).__name__}
    if isinstance(data, dict):
        computed["keys"] = sorted(data.keys())
        nums = [v for v in data.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        computed["sum"] = sum(nums)
    return json_response({"echo": data, "computed": computed})


@app.post("/upload")
def upload():
    files = []
    for name in sorted(request.files.keys()):
        for f in request.files.getlist(name):
            content = f.read()
            files.append(
                {
                    "name": name,
                    "filename": f.filename,
                    "size": len(content),
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
            )
    return json_response({"fields": multidict_lists(request.form), "files": files})


@app.get("/cookie/set")
def cookie_set():
    resp = json_response({"set": ["session_hint", "theme"]})
    resp.set_cookie("theme", "dark")
    # sync_expires=False: Werkzeug would otherwise add an Expires attribute
    # computed from the current time, which makes the response
    # non-deterministic.
    resp.headers.add(
        "Set-Cookie",
        dump_cookie("session_hint", "abc123", max_age=3600, path="/", httponly=True, sync_expires=False),
    )
    return resp


@app.get("/cookie/get")
def cookie_get():
    return json_response({"cookies": dict(request.cookies)})


@app.get("/redirect")
def redirect_view():
    return redirect("/query?a=1", code=302)


@app.get("/error")
def error():
    raise RuntimeError("intentional failure for differential test")


@app.get("/stream")
def stream():
    def generate():
        for i in range(5):
            yield "chunk %d\n" % i
        yield "done\n"

    return Response(generate(), mimetype="text/plain")


@app.get("/head")
def head():
    # Plain GET route; Flask answers HEAD on it automatically (same headers,
    # empty body).
    resp = Response("hello from GET /head\n", mimetype="text/plain")
    resp.headers["X-Head-Test"] = "yes"
    return resp
