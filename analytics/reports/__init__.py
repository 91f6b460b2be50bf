"""Reports on the query engine: trends (more presets and saved reports to come)."""
