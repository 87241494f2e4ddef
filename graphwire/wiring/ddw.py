"""ddw: instance-aware routers (Differentiable Dynamic Wirings) -- being written."""

__all__: list[str] = []
