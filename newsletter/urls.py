from django.urls import path

from . import views, webhooks

app_name = "newsletter"

urlpatterns = [
    path("", views.signup, name="signup"),
    path("check-your-inbox/", views.check_inbox, name="check_inbox"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("api/codes/check/", views.api_code_check, name="api_code_check"),
    path("api/codes/redeem/", views.api_code_redeem, name="api_code_redeem"),
    path("webhooks/<slug:esp>/tracking/", webhooks.tracking_webhook, name="tracking_webhook"),
]
