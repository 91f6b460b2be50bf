"""The benchmark suite: `manage.py bench` runs registered stages, each next to a baseline.

See docs/performance.md for what each stage measures and the latest figures.
"""
