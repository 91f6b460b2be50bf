"""Read-back of a person: JWT or personal API key; members only (404 otherwise).

The event read-back endpoints (``events/count|by-type|by-user|timeseries``) run on the
query engine and live in ``analytics.reports.api.readback``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.typing import AuthenticatedRequest
from analytics.streams.queries import persons as person_queries
from analytics.warehouse.store import get_store


class PersonView(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: AuthenticatedRequest, project_id: int, distinct_id: str) -> Response:
        """The person behind a distinct id: its id, properties and merged distinct ids."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(person_queries.person_get(get_store(), project_id=project.id, distinct_id=distinct_id[:200]))
