"""The YAML recipe: models (`model.py`) and the loader with YAML-path errors (`load.py`).

Importing it loads neither rensa nor fastText: `postmix validate` stays light.
"""

from postmix.recipe.load import RecipeError, load, parse, steps_of
from postmix.recipe.model import (
    SCHEMAS_BY_KIND,
    DatasetSpec,
    Dedup,
    Metadata,
    Output,
    Recipe,
    StepList,
    Validation,
)

__all__ = [
    "SCHEMAS_BY_KIND",
    "DatasetSpec",
    "Dedup",
    "Metadata",
    "Output",
    "Recipe",
    "RecipeError",
    "StepList",
    "Validation",
    "load",
    "parse",
    "steps_of",
]
