"""Interactive HTML export -- being written."""

__all__: list[str] = []
