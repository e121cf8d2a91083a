from django.urls import path

from . import views

app_name = "leads"

urlpatterns = [
    path("quote/", views.quote, name="quote"),
    path("quote/thanks/", views.quote_thanks, name="quote_thanks"),
    path("contact/", views.callback, name="callback"),
    path("contact/thanks/", views.callback_thanks, name="callback_thanks"),
]
