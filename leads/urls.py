from django.urls import path

from . import views

app_name = "leads"

urlpatterns = [
    path("quote/", views.quote, name="quote"),
    path("contact/", views.callback, name="callback"),
]
