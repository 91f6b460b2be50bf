"""The pages (``pages.py``), their htmx partials (``overview.py``, ``web.py``, ``users.py``)
and the project settings (``settings.py``). Views are thin: they read the URL, call a
selector or service, and render a template."""
