"""Shared config fields of every filter."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class FilterConfig(BaseModel):
    """`name` labels the manifest's drop bucket; it defaults to the filter's `type`.

    A filter whose drops have distinct, stable causes sets `bucket_by_detail`: its
    returned detail is then part of the bucket (`structure:identical_pair`).
    """

    model_config = ConfigDict(extra="forbid")
    bucket_by_detail: ClassVar[bool] = False
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.type  # type: ignore[attr-defined]


def check_bounds(config: Any, low: str, high: str, *, required: bool = True) -> None:
    """A range filter's bounds: at least one set (when `required`), and low <= high."""
    lo, hi = getattr(config, low), getattr(config, high)
    if required and lo is None and hi is None:
        raise ValueError(f"set {low}, {high} or both")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{low} {lo} > {high} {hi}")
