"""dnw: top-k straight-through edge weights (Discovering Neural Wirings) -- being written."""

__all__: list[str] = []
