"""Server-rendered pages for people (the API is for programs)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from analytics.accounts.selectors import projects_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    projects = projects_for_user(user=request.user).order_by("name")
    return render(request, "core/home.html", {"projects": projects})
