"""The Channels groups of live updates: the one name the senders (ingestion, streams) and
the WebSocket consumer (platform) agree on, kept in the kernel so neither imports the other."""


def live_group(project_id: int) -> str:
    """The Channels group of a project's live updates."""
    return f"project-{int(project_id)}-live"
