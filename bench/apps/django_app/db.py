"""Creates and seeds the SQLite database if missing (safe across processes)."""

import fcntl
import os


def ensure():
    from django.conf import settings
    from django.db import connection

    from .models import Item

    path = settings.DATABASES["default"]["NAME"]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if Item._meta.db_table not in connection.introspection.table_names():
                with connection.schema_editor() as editor:
                    editor.create_model(Item)
                Item.objects.bulk_create(
                    Item(name="item %d" % i, price="%d.%02d" % (i * 3, i * 7 % 100), stock=i % 5) for i in range(1, 101)
                )
        finally:
            connection.close()
            fcntl.flock(lock, fcntl.LOCK_UN)
