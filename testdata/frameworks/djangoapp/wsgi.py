"""WSGI entry point: ``djangoapp.wsgi:application``.

The directory containing the ``djangoapp`` package
(testdata/frameworks) must be on sys.path.
"""

import os

os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp.settings"

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
