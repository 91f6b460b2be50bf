from django.contrib.auth import views as auth_views
from django.urls import path

from analytics.accounts.throttling import login_rate_limited
from analytics.platform import views

urlpatterns = [
    path("", views.home, name="home"),
    # Session login for the server-rendered pages (the API uses JWTs and API keys).
    path(
        "login/",
        login_rate_limited(
            auth_views.LoginView.as_view(template_name="platform/login.html", redirect_authenticated_user=True)
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
