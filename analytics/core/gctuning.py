"""Garbage-collector settings for the long-running hot processes (web server, consumer).

Both allocate a few container objects per event (parsed JSON, row dicts, Kafka
messages) and free them again by reference counting: nothing on their hot paths makes
reference cycles. With CPython's default threshold (a young collection every 700 net
allocations) the cyclic collector still ran every couple of requests and walked every
object that was alive at that moment: the rows of all requests in flight, the buffered
Kafka messages. The work of each walk grows with the load, so it became a large share of
both processes' CPU for no garbage found. Freezing the start-up objects and making young
collections rare removes that walk (docs/pipeline.md, docs/ingestion.md).

Applied by ``config.asgi.web_application`` (the factory ``manage.py serve`` runs) and by
``manage.py consume_events``.
"""

from __future__ import annotations

import gc

# A young collection every 200,000 net allocations instead of 700; the older generations
# keep their default ratios. Cyclic garbage (rare here) is still collected, just later.
GC_THRESHOLDS = (200_000, 50, 100)


def tune_gc() -> None:
    """Move what exists at start-up (modules, settings, the application) out of the
    collector's reach for good, and make collections rare.

    Cyclic garbage then waits longer: code on these processes' paths must not leave a
    reference cycle per request or per batch (see BatchWriter._flush for one that did)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
