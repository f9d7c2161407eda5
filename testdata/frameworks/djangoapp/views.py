"""Views mirroring testdata/frameworks/flask_app.py (same JSON shapes)."""

import hashlib
import json

from django.http import (
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe


def json_response(data, status=200):
    body = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return HttpResponse(body + "\n", status=status, content_type="application/json")


def querydict_lists(qd):
    return {key: qd.getlist(key) for key in qd.keys()}


@require_safe
def query(request):
    return json_response({"args": querydict_lists(request.GET)})


@csrf_exempt
@require_POST
def form(request):
    return json_response(
        {"content_type": request.content_type, "form": querydict_lists(request.POST)}
    )


@csrf_exempt
@require_POST
def json_echo(request):
    try:
        data = json.loads(request.body)
    except ValueError:
        return HttpResponseBadRequest("invalid JSON\n", content_type="text/plain")
    computed = {"type": type(data).__name__}
    if isinstance(data, dict):
        computed["keys"] = sorted(data.keys())
        nums = [v for v in data.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        computed["sum"] = sum(nums)
    return json_response({"echo": data, "computed": computed})


@csrf_exempt
@require_POST
def upload(request):
    files = []
    for name in sorted(request.FILES.keys()):
        for f in request.FILES.getlist(name):
            content = f.read()
            files.append(
                {
                    "name": name,
                    "filename": f.name,
                    "size": len(content),
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
            )
    return json_response({"fields": querydict_lists(request.POST), "files": files})


def _set_cookie_no_expires(response, key, value, **kwargs):
    response.set_cookie(key, value, **kwargs)
    # Django derives an Expires attribute from time.time() when max_age is
    # given; drop it so the response is deterministic (Max-Age stays).
    response.cookies[key]["expires"] = ""


@require_safe
def cookie_set(request):
    resp = json_response({"set": ["session_hint", "theme"]})
    resp.set_cookie("theme", "dark")
    _set_cookie_no_expires(resp, "session_hint", "abc123", max_age=3600, path="/", httponly=True)
    return resp


@require_safe
def cookie_get(request):
    return json_response({"cookies": dict(request.COOKIES)})


@require_safe
def redirect_view(request):
    return HttpResponseRedirect("/query?a=1")


@require_safe
def error(request):
    raise RuntimeError("intentional failure for differential test")


@require_safe
def stream(request):
    def generate():
        for i in range(5):
            yield "chunk %d\n" % i
        yield "done\n"

    return StreamingHttpResponse(generate(), content_type="text/plain")


@require_safe
def head(request):
    resp = HttpResponse("hello from GET /head\n", content_type="text/plain")
    resp["X-Head-Test"] = "yes"
    return resp
