"""`push_to_hub`: the planned `create_repo` / `upload_folder` calls, with no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import huggingface_hub
import pytest

from postmix.report import NotLoggedIn, push_to_hub, write_report
from tests.report.pages import build, card_header
from tests.report.test_report import own_recipe


class FakeApi:
    """Records the calls `HfApi` would get."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def create_repo(self, **kwargs: Any) -> str:
        self.calls.append(("create_repo", kwargs))
        return f"https://huggingface.co/datasets/{kwargs['repo_id']}"

    def upload_folder(self, **kwargs: Any) -> str:
        self.calls.append(("upload_folder", kwargs))
        return "commit-url"


@pytest.mark.parametrize("file_format", ["jsonl", "disk"])
def test_push_plans_outputs_and_card(tmp_path: Path, file_format: str) -> None:
    out, manifest = build(tmp_path, own_recipe(tmp_path, file_format, "messages"))
    write_report(out, manifest)
    api = FakeApi()
    result = push_to_hub(out, "org/own-mix", token="hf_test", private=True, api=api)
    assert result == "commit-url"
    (create, create_kw), (upload, upload_kw) = api.calls
    assert create == "create_repo" and upload == "upload_folder"
    assert create_kw == {
        "repo_id": "org/own-mix",
        "repo_type": "dataset",
        "private": True,
        "exist_ok": True,
        "token": "hf_test",
    }
    outputs = [
        f"{o['path']}/**" if file_format == "disk" else o["path"] for o in manifest["outputs"]
    ]
    assert upload_kw["allow_patterns"] == [
        *outputs,
        "README.md",
        "manifest.json",
        "report.html",
        "report.md",
    ]
    assert upload_kw["repo_id"] == "org/own-mix" and upload_kw["repo_type"] == "dataset"
    assert upload_kw["folder_path"] == str(out) and upload_kw["token"] == "hf_test"
    # The card now says how to load the pushed repo, and still lists every split.
    card = (out / "README.md").read_text(encoding="utf-8")
    assert 'load_dataset("org/own-mix")' in card
    assert {f["split"] for f in card_header(out / "README.md")["configs"][0]["data_files"]} == {
        "train",
        "validation",
    }


def test_push_needs_a_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = build(tmp_path, own_recipe(tmp_path, "jsonl", "messages"))
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    api = FakeApi()
    with pytest.raises(NotLoggedIn, match="hf auth login"):
        push_to_hub(out, "org/own-mix", api=api)
    assert api.calls == []
