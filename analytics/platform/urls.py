from django.contrib.auth import views as auth_views
from django.urls import path

from analytics.accounts.throttling import login_rate_limited
from analytics.platform import views

urlpatterns = [
    # "/" itself is the dashboards' (the remembered project's overview); this name stays for links.
    path("projects/", views.home, name="home"),
    # Session login for the server-rendered pages (the API uses JWTs and API keys).
    path(
        "login/",
        login_rate_limited(
            auth_views.LoginView.as_view(template_name="platform/login.html", redirect_authenticated_user=True)
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(
            template_name="platform/password_change.html", success_url="/account/password/done/"
        ),
        name="password_change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="platform/password_change.html", extra_context={"done": True}
        ),
        name="password_change_done",
    ),
]
