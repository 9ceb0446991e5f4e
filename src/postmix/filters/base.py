"""Shared config fields of every filter."""

from __future__ import annotations

from typing import ClassVar

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
