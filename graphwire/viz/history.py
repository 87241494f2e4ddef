"""Plots of training history -- being written."""

__all__: list[str] = []
