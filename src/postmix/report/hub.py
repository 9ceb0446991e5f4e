"""`postmix prepare --push-to-hub ORG/NAME`: the outputs and the card, uploaded as a dataset repo.

The upload is planned first (which files, which arguments) so the plan can be
checked without a network; `push_to_hub` then hands it to `huggingface_hub`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from postmix.report import card

# Shown next to the data on the Hub; removed/quarantine/examples stay local.
EXTRA_FILES = ("README.md", "manifest.json", "report.html", "report.md")


class NotLoggedIn(RuntimeError):
    """No Hugging Face token: `hf auth login`, HF_TOKEN, or pass a token."""


@dataclass(frozen=True)
class UploadPlan:
    create_repo: dict[str, Any]
    upload_folder: dict[str, Any]


def allow_patterns(out_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """Every output (a file, or a `save_to_disk` split folder) and the card-side files present."""
    outputs = [
        f"{o['path']}/**" if (out_dir / o["path"]).is_dir() else o["path"]
        for o in manifest.get("outputs", ())
    ]
    return [*outputs, *(name for name in EXTRA_FILES if (out_dir / name).exists())]


def plan(
    out_dir: Path, manifest: dict[str, Any], repo_id: str, token: str | None, private: bool
) -> UploadPlan:
    """The exact `create_repo` and `upload_folder` arguments of a push."""
    return UploadPlan(
        create_repo={
            "repo_id": repo_id,
            "repo_type": "dataset",
            "private": private,
            "exist_ok": True,
            "token": token,
        },
        upload_folder={
            "repo_id": repo_id,
            "repo_type": "dataset",
            "folder_path": str(out_dir),
            "allow_patterns": allow_patterns(out_dir, manifest),
            "commit_message": f"postmix {manifest.get('postmix', '')}: upload dataset and card",
            "token": token,
        },
    )


def push_to_hub(
    out_dir: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    api: Any = None,
) -> Any:
    """Write the card for `repo_id`, create the dataset repo if needed, upload; returns the commit.

    `api` defaults to `huggingface_hub.HfApi()`; anything with the same two methods works.
    """
    out = Path(out_dir)
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    if token is None:
        from huggingface_hub import get_token

        token = get_token()
        if token is None:
            raise NotLoggedIn(
                "not logged in to the Hugging Face Hub: run `hf auth login`, set HF_TOKEN, "
                "or pass a token"
            )
    card.write_card(out, manifest, repo_id)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    steps = plan(out, manifest, repo_id, token, private)
    api.create_repo(**steps.create_repo)
    return api.upload_folder(**steps.upload_folder)
