"""Visible checks of the low_rank lesson."""

__all__: list[str] = []
