"""Visible checks of the distillation lesson."""

__all__: list[str] = []
