"""One module per stage; each registers itself with :func:`analytics.devtools.bench.registry.stage`."""
