"""Does the broker keep every message it acknowledged? A check independent of our code.

    python -m tests.streams.broker_probe --messages 600000 --producers 2 --rate 15000

Starts Tansu (memory storage, as the tests and ``manage.py e2e`` do), produces numbered
messages from several processes with the producer settings of ``KafkaBus`` (idempotent,
acks=all, lz4, linger 5 ms), records every acknowledged message with the partition and
offset of its delivery report, then reads the whole topic from the beginning with a fresh
consumer (assign, no group) and reports acknowledged messages that are missing, offsets
that hold another message than the one acknowledged for them, and messages read twice.
Uses confluent-kafka only (no Django, no code of ours besides starting the broker).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from collections import Counter

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "probe"


def _producer_config(bootstrap: str) -> dict:
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 5,
        "batch.size": 1024 * 1024,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        "message.timeout.ms": 30_000,
        "partitioner": "murmur2_random",
    }


def produce(bootstrap: str, worker: int, count: int, rate: float, out_path: str) -> None:
    """Produce ``count`` messages ``w{worker}-{seq}``; write the acknowledged ones (partition, offset)."""
    producer = Producer(_producer_config(bootstrap))
    acked: list[tuple[str, int, int]] = []
    failed: list[str] = []

    def report(error, message) -> None:
        ident = message.value()[:24].split(b"|")[0].decode()
        if error is None:
            acked.append((ident, message.partition(), message.offset()))
        else:
            failed.append(ident)

    padding = b"x" * 400
    rng = random.Random(worker)
    started = time.monotonic()
    for seq in range(count):
        value = f"w{worker}-{seq}".encode() + b"|" + padding
        key = f"1:user-{rng.randrange(50_000)}".encode()
        while True:
            try:
                producer.produce(TOPIC, value, key, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        if seq % 100 == 0:
            producer.poll(0)
            if rate:
                ahead = seq / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    producer.flush(60)
    with open(out_path, "wb") as handle:
        handle.write(orjson.dumps({"acked": acked, "failed": failed}))


def tail(bootstrap: str, partitions: int, stop_after: float, out_path: str) -> None:
    """Read the topic while it is being written (as a consumer does); record offset jumps."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"probe-tail-{os.getpid()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            **({"debug": "fetch"} if os.environ.get("PROBE_DEBUG") else {}),
        }
    )
    consumer.assign([TopicPartition(TOPIC, partition, 0) for partition in range(partitions)])
    last: dict[int, int] = {}
    jumps: list[tuple[int, int, int]] = []
    ids: list[str] = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < stop_after:
        messages = consumer.consume(10_000, timeout=0.2)
        if messages:
            idle_since = time.monotonic()
        for message in messages:
            if message.error() is not None:
                continue
            partition, offset = message.partition(), message.offset()
            previous = last.get(partition, -1)
            if offset != previous + 1:
                jumps.append((partition, previous, offset))
            last[partition] = offset
            ids.append(message.value()[:24].split(b"|")[0].decode())
    consumer.close()
    with open(out_path, "wb") as handle:
        handle.write(orjson.dumps({"jumps": jumps, "ids": ids}))


def read_all(bootstrap: str, partitions: int) -> dict[tuple[int, int], str]:
    """Every message of the topic by (partition, offset), read from the beginning."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"probe-reader-{os.getpid()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    highs = {}
    for partition in range(partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, partition), timeout=10)
        highs[partition] = high
    consumer.assign([TopicPartition(TOPIC, partition, 0) for partition in range(partitions)])
    seen: dict[tuple[int, int], str] = {}
    doubled = 0
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 10:
        messages = consumer.consume(10_000, timeout=1.0)
        if not messages:
            continue
        idle_since = time.monotonic()
        for message in messages:
            if message.error() is not None:
                continue
            key = (message.partition(), message.offset())
            if key in seen:
                doubled += 1
            seen[key] = message.value()[:24].split(b"|")[0].decode()
    consumer.close()
    print(f"read {len(seen)} messages, high watermarks {highs}, offsets read twice {doubled}")
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s per producer (0: as fast as possible)")
    parser.add_argument("--workdir", default="/tmp")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())
    from analytics.devtools.devbroker import start_broker

    broker = start_broker()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        admin.create_topics([NewTopic(TOPIC, num_partitions=args.partitions, replication_factor=-1)])[TOPIC].result(15)
        per = args.messages // args.producers
        context = multiprocessing.get_context("spawn")
        paths = [os.path.join(args.workdir, f"broker-probe-{os.getpid()}-{w}.json") for w in range(args.producers)]
        started = time.monotonic()
        processes = [
            context.Process(target=produce, args=(broker.bootstrap_servers, w, per, args.rate, paths[w]))
            for w in range(args.producers)
        ]
        tail_path = os.path.join(args.workdir, f"broker-probe-{os.getpid()}-tail.json")
        tailer = context.Process(target=tail, args=(broker.bootstrap_servers, args.partitions, 15.0, tail_path))
        tailer.start()
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        tailer.join()
        with open(tail_path, "rb") as handle:
            tailed = orjson.loads(handle.read())
        os.unlink(tail_path)
        print(f"produced in {time.monotonic() - started:.1f}s")
        acked: dict[str, tuple[int, int]] = {}
        failed = 0
        for path in paths:
            with open(path, "rb") as handle:
                data = orjson.loads(handle.read())
            os.unlink(path)
            failed += len(data["failed"])
            for ident, partition, offset in data["acked"]:
                acked[ident] = (partition, offset)
        seen = read_all(broker.bootstrap_servers, args.partitions)
        present = Counter(seen.values())
        missing = [ident for ident in acked if ident not in present]
        overwritten = [(ident, where, seen.get(where)) for ident, where in acked.items() if seen.get(where) != ident]
        offsets_twice = Counter(acked.values())
        shared = sum(1 for count in offsets_twice.values() if count > 1)
        print(
            f"acknowledged {len(acked)}, failed reports {failed}, missing from the topic {len(missing)}, "
            f"acknowledged offset holding another message {len(overwritten)}, "
            f"offsets acknowledged to two messages {shared}, ids stored twice "
            f"{sum(1 for count in present.values() if count > 1)}"
        )
        tail_ids = set(tailed["ids"])
        print(
            f"live reader: {len(tailed['ids'])} messages read, offset jumps {len(tailed['jumps'])} "
            f"{tailed['jumps'][:10]}, acknowledged but never read live {sum(1 for i in acked if i not in tail_ids)}"
        )
        for item in overwritten[:10]:
            print("  ", item)
        sys.exit(1 if missing or overwritten or shared or tailed["jumps"] else 0)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
