"""depth: a posterior over the depth of a residual chain -- being written."""

__all__: list[str] = []
