"""A PasteDeploy filter: with "call:", a filter section names a
paste.filter_factory, called with the global and local config and
returning the function that wraps the app.
"""


def stamp(global_conf, value="", header="X-Stamp"):
    """Adds a response header with value: shows the filter ran."""

    def wrap(app):
        def filtered(environ, start_response):
            def sr(status, headers, exc_info=None):
                return start_response(status, headers + [(header, value)], exc_info)

            return app(environ, sr)

        return filtered

    return wrap
