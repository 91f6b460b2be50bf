"""Server-rendered pages for people (the API is for programs)."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analytics.accounts.models import User
from analytics.accounts.selectors import projects_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)  # login_required
    projects = projects_for_user(user=user).order_by("name")
    return render(request, "core/home.html", {"projects": projects})
