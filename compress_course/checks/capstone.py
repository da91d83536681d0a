"""Visible checks of the capstone lesson."""

__all__: list[str] = []
