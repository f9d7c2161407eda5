"""Minimal Django settings for pogo's differential tests (no database)."""

DEBUG = False
ALLOWED_HOSTS = ["*"]
SECRET_KEY = "pogo-differential-test-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"

ROOT_URLCONF = "djangoapp.urls"
WSGI_APPLICATION = "djangoapp.wsgi.application"

INSTALLED_APPS = []
DATABASES = {}
TEMPLATES = []

# CommonMiddleware only.  Cookies need no middleware (HttpResponse.set_cookie
# and request.COOKIES work without any); CSRF middleware is not installed,
# and the POST views are additionally marked csrf_exempt.
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
DEFAULT_CHARSET = "utf-8"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# Keep uploads in memory for the small test files.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2621440
