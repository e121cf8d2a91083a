"""The site's URLs plus /bench/constant/: the same middleware, no template, no database."""

from django.http import HttpResponse
from django.urls import path

from skilldacity.urls import urlpatterns as site_urlpatterns

BODY = b"<!doctype html><title>ok</title><p>ok</p>"


def constant(request):
    return HttpResponse(BODY)


urlpatterns = [path("bench/constant/", constant), *site_urlpatterns]
