"""An app factory: `factory_app:create_app('greeting', punct='!')`."""


def create_app(greeting="hello", punct="."):
    body = (greeting + punct).encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


not_callable = 42
