"""A Pyramid project in the layout of Pyramid's cookiecutter (starter):
main() is the PasteDeploy app factory that development.ini names.

Its app answers JSON saying what it saw, so that a test can tell the
pipeline, the composite and the settings from the ini apart.
"""
import logging

from pyramid.config import Configurator

log = logging.getLogger(__name__)


def main(global_config, **settings):
    """The WSGI app of [app:myshop]."""
    with Configurator(settings=settings) as config:
        config.add_route("home", "/")
        config.add_route("item", "/items/{name}")
        config.scan(".views")
    return config.make_wsgi_app()


def admin(global_config, **settings):
    """[app:admin]: a plain WSGI app beside the Pyramid one (urlmap /admin)."""
    title = settings.get("title", "admin")

    def app(environ, start_response):
        body = ("%s SCRIPT_NAME=%s PATH_INFO=%s" % (title, environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app
