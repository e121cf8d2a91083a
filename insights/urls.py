from django.contrib import admin
from django.urls import path

from . import views

app_name = "insights"

# admin_view: staff only, with the admin's own login redirect for anyone else.
urlpatterns = [
    path("", admin.site.admin_view(views.dashboard), name="dashboard"),
]
