from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from analytics.accounts.api.auth import LogoutView, RegisterView

urlpatterns = [
    path("register", RegisterView.as_view(), name="auth-register"),
    path("token", TokenObtainPairView.as_view(), name="auth-token"),
    path("token/refresh", TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("token/verify", TokenVerifyView.as_view(), name="auth-token-verify"),
    path("logout", LogoutView.as_view(), name="auth-logout"),
]
