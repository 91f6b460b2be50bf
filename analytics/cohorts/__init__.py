"""Retention cohorts: users grouped by when they first (or each time) did something, and whether they came back."""
