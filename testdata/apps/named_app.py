"""make(name) is an app that answers which app it is and where it is mounted."""
import json


def make(name):
    def app(environ, start_response):
        body = json.dumps({
            "app": name,
            "SCRIPT_NAME": environ["SCRIPT_NAME"],
            "PATH_INFO": environ["PATH_INFO"],
            "QUERY_STRING": environ["QUERY_STRING"],
            "HTTP_HOST": environ.get("HTTP_HOST"),
        }).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    return app
