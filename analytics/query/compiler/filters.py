"""Filters to a SQL boolean expression over ``events``, with generated parameters.

Injection is impossible by construction: a property name only ever reaches SQL as a
``{vN:String}`` parameter of ``JSONExtract*``, a value only as a typed parameter, and the
only identifiers pasted into SQL are the column names of :data:`HOT_COLUMNS` (our own
constants, chosen by dictionary lookup).

How values compare (``properties`` is JSON text; a missing key and JSON ``null`` are "not set"):

- a **string** value compares with the property's text: ``JSONExtract(properties, key,
  'Nullable(String)')``: a JSON string as is, a number as ClickHouse writes it (``42``,
  ``4.5e1`` -> ``45``), a boolean as ``true``/``false``. So ``"42"`` matches both ``"42"``
  and ``42``;
- a **number** compares numerically with ``JSONExtract(properties, key,
  'Nullable(Float64)')``: JSON numbers, strings that are numbers (``"42"``, not ``" 42 "``)
  and booleans (1/0); anything else is not a number and never matches. So ``42`` matches
  ``42``, ``42.0`` and ``"42"``;
- a **boolean** compares with the text ``true``/``false``: it matches JSON booleans and the
  strings ``"true"``/``"false"``;
- ``contains`` is case-insensitive (UTF-8); ``regex`` is RE2 (ClickHouse ``match``),
  unanchored; ``gt``/``gte``/``lt``/``lte``/``between`` are numeric (``between`` inclusive);
- the negative operators (``neq``, ``not_in``, ``not_contains``, ``not_regex``) also match
  events where the property is not set: such an event "is not" the value;
- ``is_set``: the key is present and not JSON ``null``.

The key ``event`` means the event name; the hot keys of :data:`HOT_COLUMNS` read their typed
column instead of the JSON (empty text there means "not set"); the derived keys of
:data:`DERIVED_TEXT` (``$pathname``, ``$referring_domain``) are computed from the ``url`` and
``referrer`` columns; the UTM keys (:data:`UTM_KEYS`) are the event property when set and not
empty, else the URL-decoded query parameter of the page URL.

Person conditions (``type: "person"``) test the properties of the event's person, the latest
version of its ``persons`` row that is not deleted (``FINAL``), through ``person_id IN
(<persons for whom the positive test holds>)``; a negative operator is ``NOT IN`` that set,
so an event whose person has no row "is not" the value. Segment conditions (``type:
"segment"``) are ``person_id [NOT] IN <members>``: a materialised segment's loaded set or
``(<the members' SQL>)``, from ``analytics.query.membership``. Session conditions (``type:
"session"``, trends only) test an attribute of the event's session (:data:`analytics.query.model.SESSION_KEYS`), read from
the columns ``session_<column>`` that the trends compiler joins onto each event
(:func:`session_columns` names them); the operators are those of event properties, over
:func:`session_views`. See docs/query.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.query.compiler.params import Params
from analytics.query.membership import segment_membership_sql
from analytics.query.model import (
    NEGATIVE_OPERATORS,
    SESSION_DURATION_BUCKETS,
    SESSION_KEYS,
    Breakdown,
    Condition,
    Filter,
    Group,
)

# Property key -> typed column of ``events`` (docs/event-store.md: the hot columns).
HOT_COLUMNS: dict[str, str] = {
    "event": "event",
    "distinct_id": "distinct_id",
    "$current_url": "url",
    "$referrer": "referrer",
    "$browser": "browser",
    "$browser_version": "browser_version",
    "$os": "os",
    "$os_version": "os_version",
    "$device_type": "device_type",
    "$country": "country",
    "$session_id": "session_id",
    "$lib": "lib",
    "$revenue": "revenue",
}
NUMERIC_COLUMNS = frozenset({"revenue"})


# Derived keys: text computed from a hot column (their number view parses the text).
DERIVED_TEXT: dict[str, str] = {
    "$pathname": "path(url)",
    "$referring_domain": "domain(referrer)",
}
# UTM keys: the event property when set and not empty, else the parameter of the page URL.
UTM_KEYS = frozenset({"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"})
# Latest version of every person of the project that is not deleted (ReplacingMergeTree).
PERSONS_SQL = (
    "SELECT person_id, properties FROM persons FINAL WHERE project_id = {project_id:UInt64} AND is_deleted = 0"
)


@dataclass(frozen=True)
class Property:
    """The SQL views of one property: as text, as a number, and whether it is set."""

    text: str  # Nullable(String)
    number: str  # Nullable(Float64)
    is_set: str  # UInt8


def json_views(column: str, key: str, params: Params) -> Property:
    """A key of the JSON text in ``column`` (our constant), the key as a parameter."""
    name = params.add(key, "String")
    return Property(
        text=f"JSONExtract({column}, {name}, 'Nullable(String)')",
        number=f"JSONExtract({column}, {name}, 'Nullable(Float64)')",
        is_set=f"(JSONHas({column}, {name}) AND JSONType({column}, {name}) != 'Null')",
    )


def _text_views(text: str) -> Property:
    """Views of a Nullable(String) expression where NULL means not set."""
    return Property(text=text, number=f"toFloat64OrNull({text})", is_set=f"isNotNull({text})")


def property_views(key: str, params: Params) -> Property:
    """An event property: a hot column, a derived key, a UTM key or a key of ``properties``."""
    column = HOT_COLUMNS.get(key)
    if column in NUMERIC_COLUMNS:
        return Property(text=f"toString({column})", number=column, is_set=f"isNotNull({column})")
    if column is not None:
        return Property(text=f"nullIf({column}, '')", number=f"toFloat64OrNull({column})", is_set=f"{column} != ''")
    if key in DERIVED_TEXT:
        return _text_views(f"nullIf({DERIVED_TEXT[key]}, '')")
    if key in UTM_KEYS:
        name = params.add(key, "String")
        from_properties = f"nullIf(JSONExtract(properties, {name}, 'Nullable(String)'), '')"
        from_url = f"nullIf(decodeURLFormComponent(extractURLParameter(url, {name})), '')"
        return _text_views(f"coalesce({from_properties}, {from_url})")
    return json_views("properties", key, params)


def _duration_bucket(column: str) -> str:
    """The label of the duration bucket holding ``column`` (seconds); our constants only."""
    branches = [f"{column} < {bound}, '{label}'" for label, bound in SESSION_DURATION_BUCKETS if bound is not None]
    return f"multiIf({', '.join(branches)}, '{SESSION_DURATION_BUCKETS[-1][0]}')"


def session_views(key: str) -> Property:
    """A session attribute (a key of ``SESSION_KEYS``) over the joined ``session_*`` columns."""
    column, kind = SESSION_KEYS[key]
    name = f"session_{column}"
    if kind == "number":
        return Property(text=f"toString({name})", number=f"toFloat64({name})", is_set="1")
    if kind == "boolean":
        return Property(text=f"if({name}, 'true', 'false')", number=f"toFloat64({name})", is_set="1")
    if kind == "duration_bucket":
        return _text_views(_duration_bucket(name))
    expression = {"text": name, "pathname": f"path({name})", "domain": f"domain({name})"}[kind]
    return _text_views(f"nullIf({expression}, '')")


def session_columns(filters: tuple[Filter | None, ...], breakdown: Breakdown | None) -> set[str]:
    """The per-session columns the session conditions of ``filters`` and a session breakdown read."""
    columns = set()
    pending = [node for node in filters if node is not None]
    while pending:
        node = pending.pop()
        if isinstance(node, Group):
            pending.extend(node.conditions)
        elif node.type == "session":
            columns.add(SESSION_KEYS[node.key][0])
    if breakdown is not None and breakdown.type == "session":
        columns.add(SESSION_KEYS[breakdown.key][0])
    return columns


def key_columns(key: str) -> set[str]:
    """The ``events`` columns :func:`property_views` reads for ``key``."""
    if key in HOT_COLUMNS:
        return {HOT_COLUMNS[key]}
    if key in DERIVED_TEXT:
        return {"url"} if key == "$pathname" else {"referrer"}
    if key in UTM_KEYS:
        return {"properties", "url"}
    return {"properties"}


def filter_columns(node: Filter | None) -> set[str]:
    """The ``events`` columns a filter reads (person, segment and session conditions read
    ``person_id``, segment ones ``person_key`` too (a set of keys); session attributes come
    from elsewhere)."""
    columns: set[str] = set()
    pending = [node] if node is not None else []
    while pending:
        current = pending.pop()
        if isinstance(current, Group):
            pending.extend(current.conditions)
        elif current.type == "event":
            columns |= key_columns(current.key)
        elif current.type == "segment":
            columns |= {"person_id", "person_key"}
        else:
            columns.add("person_id")
    return columns


def _scalar_test(view: Property, value: str | int | float | bool, params: Params) -> str:
    """``view = value`` by the value's JSON type (nullable)."""
    if isinstance(value, bool):
        return f"{view.text} = {params.add('true' if value else 'false', 'String')}"
    if isinstance(value, int | float):
        return f"{view.number} = {params.add(float(value), 'Float64')}"
    return f"{view.text} = {params.add(value, 'String')}"


def _in_test(view: Property, values: list[str | int | float | bool], params: Params) -> str:
    texts = [("true" if v else "false") if isinstance(v, bool) else v for v in values if isinstance(v, bool | str)]
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    parts = []
    if texts:
        parts.append(f"{view.text} IN {params.add(texts, 'Array(String)')}")
    if numbers:
        parts.append(f"{view.number} IN {params.add(numbers, 'Array(Float64)')}")
    return " OR ".join(parts) if len(parts) > 1 else parts[0]


_COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _positive_test(condition: Condition, view: Property, params: Params) -> str:
    """The condition without its negation, as a nullable boolean."""
    operator, value = condition.operator, condition.value
    if operator in ("eq", "neq"):
        return _scalar_test(view, value, params)
    if operator in ("in", "not_in"):
        return _in_test(view, list(value), params)
    if operator in ("contains", "not_contains"):
        return f"positionCaseInsensitiveUTF8({view.text}, {params.add(str(value), 'String')}) > 0"
    if operator in ("regex", "not_regex"):
        return f"match({view.text}, {params.add(str(value), 'String')})"
    if operator in _COMPARISONS:
        return f"{view.number} {_COMPARISONS[operator]} {params.add(float(value), 'Float64')}"
    if operator == "between":
        low, high = (params.add(float(bound), "Float64") for bound in value)
        return f"{view.number} BETWEEN {low} AND {high}"
    if operator in ("is_set", "is_not_set"):
        return view.is_set
    raise ValueError(f"unknown operator {operator!r}")  # the serializer admits none


def _segment_sql(condition: Condition, params: Params) -> str:
    return segment_membership_sql(
        project_id=int(params.values["project_id"]),
        segment_id=int(condition.value),
        params=params,
        negate=condition.operator in ("not_in", "neq"),
    )


def _person_sql(condition: Condition, params: Params) -> str:
    """The event's person matches: one subquery over the persons' latest versions.

    The subquery selects the persons for whom the positive test holds; a negative operator
    is ``NOT IN`` that set, so an event whose person has no row (or no such property)
    matches ``neq`` as an event without the property does.
    """
    test = _positive_test(condition, json_views("properties", condition.key, params), params)
    negated = "NOT " if condition.operator in NEGATIVE_OPERATORS else ""
    return f"person_id {negated}IN (SELECT person_id FROM ({PERSONS_SQL}) WHERE ifNull({test}, 0))"


def condition_sql(condition: Condition, params: Params) -> str:
    if condition.type == "segment":
        return _segment_sql(condition, params)
    if condition.type == "person":
        return _person_sql(condition, params)
    if condition.type == "session":
        views = session_views(condition.key)
    elif condition.type == "event":
        views = property_views(condition.key, params)
    else:
        raise ValueError(f"{condition.type} filters are not supported")  # refused by the serializer
    test = _positive_test(condition, views, params)
    # A NULL (property not set, not a number) is "no match"; the negation of no match is a match.
    if condition.operator in NEGATIVE_OPERATORS:
        return f"NOT ifNull({test}, 0)"
    return f"ifNull({test}, 0)"


def filter_sql(node: Filter, params: Params) -> str:
    """A boolean SQL expression for a condition or a (nested) group."""
    if isinstance(node, Condition):
        return condition_sql(node, params)
    if isinstance(node, Group):
        if not node.conditions:
            return "1"
        joiner = " AND " if node.op == "and" else " OR "
        return "(" + joiner.join(filter_sql(child, params) for child in node.conditions) + ")"
    raise TypeError(f"not a filter: {node!r}")
