"""Types for views whose permission classes guarantee a logged-in user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.request import Request

if TYPE_CHECKING:
    from analytics.accounts.models import User

    class AuthenticatedRequest(Request):
        """A DRF request after IsAuthenticated*: ``request.user`` is our User."""

        user: User

else:
    AuthenticatedRequest = Request
