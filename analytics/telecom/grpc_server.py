"""The providers' read API over gRPC (``telecom.v1.TelecomRead``, proto/telecom.proto).

``GetUserDetail`` and ``GetGlobalAgg`` answer exactly what the HTTP endpoints answer (the
same selectors), authenticated by the same project read key, sent as the metadata
``authorization: Bearer rk_...``. Status codes: UNAUTHENTICATED (no, unknown or revoked
key), INVALID_ARGUMENT (the message names the field, as the HTTP 400 does), UNAVAILABLE
(the event store is down; retry). The standard health service (``grpc.health.v1``)
reports SERVING for the server and for the service while the server runs.

Each RPC runs in a worker thread of the server and closes its database connection when it
is done, so idle workers hold none.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from django.db import close_old_connections, connection
from google.protobuf import struct_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from analytics.core.errors import ApplicationError
from analytics.core.inputs import query_moment
from analytics.core.logging import get_logger
from analytics.telecom import selectors
from analytics.telecom.api.authentication import bearer_token
from analytics.telecom.models import ReadKey
from analytics.telecom.proto import telecom_pb2, telecom_pb2_grpc
from analytics.warehouse.errors import StoreUnavailable

log = get_logger(__name__)

SERVICE_NAME = "telecom.v1.TelecomRead"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
T = TypeVar("T")


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _read_key(context: grpc.ServicerContext) -> ReadKey:
    metadata = {key.lower(): value for key, value in context.invocation_metadata()}
    token = bearer_token(str(metadata.get("authorization", "")))
    key = selectors.read_key_lookup(token) if token else None
    if key is None:
        raise _Abort(
            grpc.StatusCode.UNAUTHENTICATED, "a valid project read key is required (authorization: Bearer rk_...)"
        )
    return key


def _range(start: str, end: str) -> selectors.Range:
    return selectors.time_range(query_moment({"from": start}, "from"), query_moment({"to": end}, "to"))


def _total(item: dict[str, Any]) -> telecom_pb2.Total:
    return telecom_pb2.Total(
        date=item["date"],
        type=item["type"],
        count=item["count"],
        duration_sec=float(item["duration_sec"]),
        bytes_up=item["bytes_up"],
        bytes_down=item["bytes_down"],
        unique_users=item.get("unique_users", 0),
    )


def _action(item: dict[str, Any]) -> telecom_pb2.Action:
    meta = struct_pb2.Struct()
    meta.update(item["meta"] or {})
    optional = {
        name: item[name] for name in ("ended_at", "duration_sec", "bytes_up", "bytes_down") if item[name] is not None
    }
    return telecom_pb2.Action(
        event_id=item["event_id"],
        source_id=item["source_id"],
        user_id=item["user_id"],
        type=item["type"],
        started_at=item["started_at"],
        meta=meta,
        **optional,
    )


class TelecomReadServicer(telecom_pb2_grpc.TelecomReadServicer):
    """See the module docstring."""

    @staticmethod
    def _call(context: grpc.ServicerContext, method: str, answer: Callable[[], T]) -> T:
        close_old_connections()
        try:
            return answer()
        except _Abort as error:
            context.abort(error.code, error.message)
        except ApplicationError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
        except StoreUnavailable:
            log.warning("telecom.grpc.store_unavailable", method=method)
            context.abort(grpc.StatusCode.UNAVAILABLE, "the event store is unavailable; retry shortly")
        finally:
            connection.close()
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover

    def GetUserDetail(
        self, request: telecom_pb2.GetUserDetailRequest, context: grpc.ServicerContext
    ) -> telecom_pb2.UserDetail:
        def answer() -> telecom_pb2.UserDetail:
            key = _read_key(context)
            limit = request.limit or DEFAULT_LIMIT
            if not 1 <= limit <= MAX_LIMIT:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"'limit' must be 1 to {MAX_LIMIT}")
            if not request.user_id:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "'user_id' is required")
            detail = selectors.user_detail(
                project=key.project,
                user_id=request.user_id,
                period=_range(getattr(request, "from"), request.to),
                limit=limit,
                cursor=request.cursor or None,
            )
            return telecom_pb2.UserDetail(
                user_id=detail["user_id"],
                actions=[_action(item) for item in detail["actions"]],
                next=detail["next"] or "",
                totals=telecom_pb2.Totals(
                    day=[_total(item) for item in detail["totals"]["day"]],
                    month=[_total(item) for item in detail["totals"]["month"]],
                ),
                **{"from": detail["from"], "to": detail["to"]},
            )

        return self._call(context, "GetUserDetail", answer)

    def GetGlobalAgg(
        self, request: telecom_pb2.GetGlobalAggRequest, context: grpc.ServicerContext
    ) -> telecom_pb2.GlobalAgg:
        def answer() -> telecom_pb2.GlobalAgg:
            key = _read_key(context)
            result = selectors.global_aggregates(
                project=key.project,
                period_name=request.period or "day",
                period=_range(getattr(request, "from"), request.to),
            )
            return telecom_pb2.GlobalAgg(
                period=result["period"],
                timezone=result["timezone"],
                totals=[_total(item) for item in result["totals"]],
                **{"from": result["from"], "to": result["to"]},
            )

        return self._call(context, "GetGlobalAgg", answer)


def build_server(address: str, port: int, *, workers: int = 8) -> tuple[grpc.Server, int]:
    """A started-ready server (call ``start()``) and the port it bound (``port`` 0: a free one)."""
    server = grpc.server(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc-telecom"))
    telecom_pb2_grpc.add_TelecomReadServicer_to_server(TelecomReadServicer(), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    bound = server.add_insecure_port(f"{address}:{port}")
    if not bound:
        raise OSError(f"cannot listen on {address}:{port}")
    return server, bound
