"""derive(): discrete architectures from DARTS weights -- being written."""

__all__: list[str] = []
