from django.urls import path

from analytics.accounts.api.auth import (
    LogoutView,
    RegisterView,
    TokenCheckView,
    TokenRefreshRotatingView,
    TokenView,
)

urlpatterns = [
    path("register", RegisterView.as_view(), name="auth-register"),
    path("token", TokenView.as_view(), name="auth-token"),
    path("token/refresh", TokenRefreshRotatingView.as_view(), name="auth-token-refresh"),
    path("token/verify", TokenCheckView.as_view(), name="auth-token-verify"),
    path("logout", LogoutView.as_view(), name="auth-logout"),
]
