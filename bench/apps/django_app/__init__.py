"""The benchmark's Django app: one view rendering a template with the ORM on SQLite.

Served as django_app.wsgi:application. The SQLite database is created and
seeded when the app is imported, if missing: $POGO_BENCH_DJANGO_DB, or
pogo-bench-django.sqlite3 in the temp directory.
"""
