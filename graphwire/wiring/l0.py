"""l0: hard-concrete edge gates -- being written."""

__all__: list[str] = []
