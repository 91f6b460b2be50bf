"""Funnels (where users drop off) and user paths (what they do instead)."""
