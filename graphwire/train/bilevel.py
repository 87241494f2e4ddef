"""Bilevel (DARTS) updates -- being written."""

__all__: list[str] = []
