"""Visible checks of the pruning lesson."""

__all__: list[str] = []
