from django.urls import path

from . import views

app_name = "referrals"

# Mounted at the site root, before django.contrib.auth.urls at accounts/, so the login and
# password-reset paths below take precedence over contrib's (same paths, e-mail-aware forms).
urlpatterns = [
    path("skillpoints/", views.landing, name="landing"),
    path("skillpoints/dashboard/", views.dashboard, name="dashboard"),
    path("skillpoints/redeem/", views.redeem, name="redeem"),
    path(
        "skillpoints/redemptions/<int:pk>/cancel/",
        views.redemption_cancel,
        name="redemption_cancel",
    ),
    path("r/<str:code>/", views.short_link, name="short_link"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/signup/done/", views.signup_done, name="signup_done"),
    path("accounts/verify/<str:token>/", views.verify, name="verify"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
]
