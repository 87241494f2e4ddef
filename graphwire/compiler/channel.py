"""The single-channel node op (DNW) -- being written."""

__all__: list[str] = []
