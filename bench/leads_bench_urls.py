"""The site's URLs plus /bench/constant/, the framework's own ceiling on the same server."""

from django.http import HttpResponse
from django.urls import include, path


def constant(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("bench/constant/", constant),
    path("", include("skilldacity.urls")),
]
