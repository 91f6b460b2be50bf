from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetUserDetailRequest(_message.Message):
    __slots__ = ("user_id", "to", "limit", "cursor")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    to: str
    limit: int
    cursor: str
    def __init__(self, user_id: _Optional[str] = ..., to: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ..., **kwargs) -> None: ...

class Action(_message.Message):
    __slots__ = ("event_id", "source_id", "user_id", "type", "started_at", "ended_at", "duration_sec", "bytes_up", "bytes_down", "meta")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SEC_FIELD_NUMBER: _ClassVar[int]
    BYTES_UP_FIELD_NUMBER: _ClassVar[int]
    BYTES_DOWN_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    source_id: str
    user_id: str
    type: str
    started_at: str
    ended_at: str
    duration_sec: float
    bytes_up: int
    bytes_down: int
    meta: _struct_pb2.Struct
    def __init__(self, event_id: _Optional[str] = ..., source_id: _Optional[str] = ..., user_id: _Optional[str] = ..., type: _Optional[str] = ..., started_at: _Optional[str] = ..., ended_at: _Optional[str] = ..., duration_sec: _Optional[float] = ..., bytes_up: _Optional[int] = ..., bytes_down: _Optional[int] = ..., meta: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Total(_message.Message):
    __slots__ = ("date", "type", "count", "duration_sec", "bytes_up", "bytes_down", "unique_users")
    DATE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SEC_FIELD_NUMBER: _ClassVar[int]
    BYTES_UP_FIELD_NUMBER: _ClassVar[int]
    BYTES_DOWN_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_USERS_FIELD_NUMBER: _ClassVar[int]
    date: str
    type: str
    count: int
    duration_sec: float
    bytes_up: int
    bytes_down: int
    unique_users: int
    def __init__(self, date: _Optional[str] = ..., type: _Optional[str] = ..., count: _Optional[int] = ..., duration_sec: _Optional[float] = ..., bytes_up: _Optional[int] = ..., bytes_down: _Optional[int] = ..., unique_users: _Optional[int] = ...) -> None: ...

class Totals(_message.Message):
    __slots__ = ("day", "month")
    DAY_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    day: _containers.RepeatedCompositeFieldContainer[Total]
    month: _containers.RepeatedCompositeFieldContainer[Total]
    def __init__(self, day: _Optional[_Iterable[_Union[Total, _Mapping]]] = ..., month: _Optional[_Iterable[_Union[Total, _Mapping]]] = ...) -> None: ...

class UserDetail(_message.Message):
    __slots__ = ("user_id", "actions", "next", "totals", "to")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    actions: _containers.RepeatedCompositeFieldContainer[Action]
    next: str
    totals: Totals
    to: str
    def __init__(self, user_id: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[Action, _Mapping]]] = ..., next: _Optional[str] = ..., totals: _Optional[_Union[Totals, _Mapping]] = ..., to: _Optional[str] = ..., **kwargs) -> None: ...

class GetGlobalAggRequest(_message.Message):
    __slots__ = ("period", "to")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    period: str
    to: str
    def __init__(self, period: _Optional[str] = ..., to: _Optional[str] = ..., **kwargs) -> None: ...

class GlobalAgg(_message.Message):
    __slots__ = ("period", "timezone", "totals", "to")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    period: str
    timezone: str
    totals: _containers.RepeatedCompositeFieldContainer[Total]
    to: str
    def __init__(self, period: _Optional[str] = ..., timezone: _Optional[str] = ..., totals: _Optional[_Iterable[_Union[Total, _Mapping]]] = ..., to: _Optional[str] = ..., **kwargs) -> None: ...
