"""One module per stage; each registers itself with :func:`analytics.bench.registry.stage`."""
