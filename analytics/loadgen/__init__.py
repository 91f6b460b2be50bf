"""The load generator (manage.py loadgen): scenarios, sending, verification against the store."""
