from django.urls import path

from analytics.core import views

urlpatterns = [
    path("", views.home, name="home"),
]
