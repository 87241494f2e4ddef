"""darts: mixed operations on connections (DARTS) -- being written."""

__all__: list[str] = []
