"""The "mixed" row's app: one server process serving both kinds of request.

    /io10   workload.app: time.sleep(10 ms), then 10 bytes
    else    flask_app.app (the row loads /json: Flask jsonify)
"""

import flask_app
import workload

_flask = flask_app.app


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/io10":
        return workload.app(environ, start_response)
    return _flask(environ, start_response)
