"""Visible checks of the quantization lesson."""

__all__: list[str] = []
