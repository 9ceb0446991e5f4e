"""Shared fixtures: the real public samples in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POSTMIX_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real-data corpus; tests that need it skip cleanly without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real-data corpus not found at {SHARED_DATA} (set POSTMIX_SHARED_DATA)")
    return SHARED_DATA


def shared_file(root: Path, rel: str) -> Path:
    path = root / rel
    if not path.exists():
        pytest.skip(f"{rel} missing from the real-data corpus")
    return path
