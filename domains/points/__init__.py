"""The ``points`` domain: vectors from 2D toys or CSV files. The template for new domains."""

from domains.points.domain import PointsDomain

__all__ = ["PointsDomain"]
