"""Every transform's Config: a minimal valid entry validates, and unknown keys are rejected."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from postmix import transforms

MINIMAL: dict[str, dict[str, Any]] = {
    "system_prompt": {"policy": "drop"},
    "max_turns": {"max_turns": 2},
    "rename_roles": {"mapping": {"bot": "assistant"}},
    "reasoning": {"keep": "last"},
}


def test_every_registered_transform_is_covered() -> None:
    assert set(MINIMAL) == set(transforms.MODULES)


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_config_rejects_unknown_keys(name: str) -> None:
    config = transforms.module(name).Config
    entry = {"type": name, **MINIMAL[name]}
    assert config.model_validate(entry).type == name
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        config.model_validate({**entry, "polcy": "keep"})
