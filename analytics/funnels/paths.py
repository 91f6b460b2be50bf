"""User paths: the most common sequences of events (or pageview URLs) after a start event or
before an end event, as Sankey nodes and weighted edges.

Semantics:

- Each person contributes at most one path. With ``start``: from the person's **first** event
  matching the start step (its events and property filters) in ``[from, to)``; the path is that
  event and the events after it, up to ``window_seconds`` after it (inclusive; events after
  ``to`` count), cut at ``depth`` nodes. With ``end``: up to the person's **last** matching
  event in ``[from, to)``, the events before it within ``window_seconds`` (inclusive), the
  last ``depth`` nodes.
- A node is the event name, or with ``path_type: "url"`` the path of the URL of ``$pageview``
  events (``/pricing``; query string and fragment dropped); other events are left out, except
  the anchor (labelled by its event name unless it is a pageview). ``filters`` apply to every
  event of the path; events named in ``exclude_events`` are left out, except those matching the anchor step.
- Repeats in a row collapse into one node (a reload is not a step). Events of one person at
  the same millisecond are ordered by their label.
- Top edges: at each step, the ``edges_per_step`` edges taken by the most persons (ties by
  source then target name) keep their target; every other person's node at that step
  becomes ``"$other"``, and their path goes on from the ``$other`` node. Steps are processed
  from the anchor outwards, so every node's inflow equals the persons at the node.
- Node ids are ``"<step>_<name>"``: step 0 is the start event; with ``end`` the end event is
  the last step (``depth - 1``) and shorter paths begin at a later step. Edges point forward in
  time either way.

Answer: ``{"nodes": [{"id", "name", "step", "value"}], "edges": [{"source", "target",
"value"}], "persons", "truncated"}``; ``value`` is persons; ``truncated`` is true when more
than ``MAX_DISTINCT_PATHS`` distinct paths existed and only the most taken were used.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

from analytics.funnels.compiler import MAX_DISTINCT_PATHS, OTHER, compile_paths
from analytics.funnels.model import PathsQuery
from analytics.warehouse.store import EventStore, get_store


def top_edges(paths: list[tuple[list[str], int]], limit: int, depth: int) -> list[tuple[list[str], int]]:
    """The paths with every node outside its step's top edges replaced by ``$other`` (see above)."""
    paths = [(list(path), persons) for path, persons in paths]
    for step in range(1, depth):
        counts: Counter[tuple[str, str]] = Counter()
        for path, persons in paths:
            if len(path) > step:
                counts[(path[step - 1], path[step])] += persons
        kept = {edge for edge, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]}
        for path, _ in paths:
            if len(path) > step and (path[step - 1], path[step]) not in kept:
                path[step] = OTHER
    return paths


def sankey(paths: list[tuple[list[str], int]], *, depth: int, backwards: bool) -> dict[str, Any]:
    """Nodes and edges of paths; backwards paths are stored anchor first and drawn ending at the last step."""
    nodes: Counter[tuple[int, str, str]] = Counter()
    edges: Counter[tuple[str, str]] = Counter()
    for path, persons in paths:
        steps = [depth - 1 - position if backwards else position for position in range(len(path))]
        ids = [f"{step}_{name}" for step, name in zip(steps, path, strict=True)]
        for step, identifier, name in zip(steps, ids, path, strict=True):
            nodes[(step, identifier, name)] += persons
        for near, far in pairwise(ids):
            edges[(far, near) if backwards else (near, far)] += persons
    node_list = [
        {"id": identifier, "name": name, "step": step, "value": value}
        for (step, identifier, name), value in sorted(
            nodes.items(), key=lambda item: (item[0][0], -item[1], item[0][1])
        )
    ]
    edge_list = [
        {"source": source, "target": target, "value": value}
        for (source, target), value in sorted(edges.items(), key=lambda item: (-item[1], item[0]))
    ]
    return {"nodes": node_list, "edges": edge_list}


def run_paths(*, project_id: int, query: PathsQuery, store: EventStore | None = None) -> dict[str, Any]:
    store = store or get_store()
    rows = store.query(compile_paths(project_id=project_id, query=query)).dicts()
    truncated = len(rows) > MAX_DISTINCT_PATHS
    paths = [(list(row["path"]), int(row["persons"])) for row in rows[:MAX_DISTINCT_PATHS]]
    replaced = top_edges(paths, query.edges_per_step, query.depth)
    answer = sankey(replaced, depth=query.depth, backwards=query.end is not None)
    return {**answer, "persons": sum(persons for _, persons in paths), "truncated": truncated}
