"""Visible checks of the acceleration lesson."""

__all__: list[str] = []
