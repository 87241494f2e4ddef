"""Search-space models (DARTS networks, learnt depth) -- being written."""

__all__: list[str] = []
