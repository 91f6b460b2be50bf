"""Kafka consumers ("streams"): the registry, the shared consumer loop, and one module per stream."""
