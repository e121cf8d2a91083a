"""The site's URLconf with /news/ handed to a plain view, for tests/articles/test_pagecache.py."""

from django.http import HttpResponse
from django.urls import include, path


def news_moved(request):
    return HttpResponse("The news moved.")


urlpatterns = [path("news/", news_moved), path("", include("skilldacity.urls"))]
