"""Small read-only selectors for what the pages show and the query engine does not answer.

Every function takes a project id and returns plain Python values; all SQL goes through
the event store's tenant guard with typed parameters (never user text pasted into SQL).
"""
