"""Former path of :mod:`imagination.book.scale` (kept so that old code keeps working)."""

from .book.scale import SCALES, ScaleName, by_scale, current_scale, is_static

__all__ = ["SCALES", "ScaleName", "by_scale", "current_scale", "is_static"]
