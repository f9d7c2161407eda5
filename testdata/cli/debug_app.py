"""The app of the debug page tests (internal/cli/debug_test.go)."""


def lookup(table, key):
    secret_local = "sentinel-42"
    markup = "<script>document.title = 'ran'</script>"
    return table[key]  # the raising line


def app(environ, start_response):
    if environ["PATH_INFO"] == "/error":
        try:
            lookup({}, "missing")
        except KeyError as e:
            raise ValueError("lookup failed for %s" % environ["PATH_INFO"]) from e
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine\n"]
