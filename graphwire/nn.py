"""Sparse layers (DNW) -- being written."""

__all__: list[str] = []
