from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=64)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    stock = models.IntegerField(default=0)

    class Meta:
        app_label = "django_app"
        ordering = ["id"]
