"""Segments: who the users are, defined once (JSON conditions or a static list) and used as a filter everywhere."""
