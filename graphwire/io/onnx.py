"""ONNX export -- being written."""

__all__: list[str] = []
