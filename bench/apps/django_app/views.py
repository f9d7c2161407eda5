from django.shortcuts import render

from .models import Item


def items(request):
    rows = list(Item.objects.filter(stock__gt=0).order_by("id")[:10])
    return render(request, "items.html", {"title": "Django page", "rows": rows, "count": Item.objects.count()})
