from django.urls import path

from . import views

urlpatterns = [
    path("query", views.query),
    path("form", views.form),
    path("json", views.json_echo),
    path("upload", views.upload),
    path("cookie/set", views.cookie_set),
    path("cookie/get", views.cookie_get),
    path("redirect", views.redirect_view),
    path("error", views.error),
    path("stream", views.stream),
    path("head", views.head),
]
