"""Evaluation: response-only loss vs a hand-masked computation, packed = unpacked, pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from postmix.templates import get, jinja_template
from postmix.train.common import load_model
from postmix.train.data import load_data, message_rows, open_prepared
from postmix.train.evaluate import groups, lm_metrics, pair_metrics, positions, run_eval
from tests.train.conftest import tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def model(base_model: Path) -> Any:
    return load_model(str(base_model), tiny_config(Path("unused"), base_model)).eval()


def validation(cfg: Any, sft_dir: Path, packing: bool) -> Any:
    cfg = cfg.model_copy(update={"packing": packing})
    return load_data([str(sft_dir)], cfg, kinds=("sft",), model=cfg.model).validation


def hand_masked(model: Any, tok: Any, conversations: list[list[dict[str, str]]]) -> float:
    """Mean NLL of the assistant tokens, masked by transformers' own `{% generation %}` mask."""
    nll, count = 0.0, 0
    for messages in conversations:
        enc = tok.apply_chat_template(
            messages,
            chat_template=jinja_template(get("chatml")),
            return_dict=True,
            return_assistant_tokens_mask=True,
            tokenize=True,
        )
        ids = torch.tensor([enc["input_ids"][:256]])
        mask = torch.tensor(enc["assistant_masks"][:256], dtype=torch.bool)
        with torch.no_grad():
            logits = model(ids).logits[0]
        losses = F.cross_entropy(logits[:-1], ids[0, 1:], reduction="none")
        nll += float(losses[mask[1:]].sum())
        count += int(mask[1:].sum())
    return nll / count


def test_loss_counts_only_assistant_tokens(
    model: Any, base_model: Path, sft_dir: Path, tok: Any
) -> None:
    cfg = tiny_config(Path("unused"), base_model)
    ds = validation(cfg, sft_dir, packing=True)
    got = lm_metrics(model, ds)
    prepared = open_prepared(sft_dir)
    path = sft_dir / next(
        o["path"] for o in prepared.manifest["outputs"] if o["split"] == "validation"
    )
    conversations = [row["messages"] for row in message_rows(path)]
    assert got["loss"] == pytest.approx(hand_masked(model, tok, conversations), abs=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(got["loss"]))
    everything = hand_masked_all(model, ds)
    assert abs(everything - got["loss"]) > 1e-3  # the prompt tokens would change the number


def hand_masked_all(model: Any, ds: Any) -> float:
    """Mean NLL over every token of every record (what a loss without masks would give)."""
    nll, count = 0.0, 0
    for row in ds:
        start = 0
        for n in row["seq_lengths"]:
            ids = torch.tensor([row["input_ids"][start : start + n]])
            start += n
            with torch.no_grad():
                logits = model(ids).logits[0]
            nll += float(F.cross_entropy(logits[:-1], ids[0, 1:], reduction="sum"))
            count += n - 1
    return nll / count


def test_packed_and_unpacked_evaluation_agree(model: Any, base_model: Path, sft_dir: Path) -> None:
    cfg = tiny_config(Path("unused"), base_model)
    packed, unpacked = validation(cfg, sft_dir, True), validation(cfg, sft_dir, False)
    assert len(packed) < len(unpacked)
    a = lm_metrics(model, packed, budget=100_000)  # every row in one forward
    b = lm_metrics(model, unpacked, budget=1)  # one record per forward
    assert a["tokens"] == b["tokens"] > 0
    assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    assert a["per_source"].keys() == b["per_source"].keys()


def test_padding_free_rows_do_not_see_each_other(model: Any) -> None:
    """Block-diagonal attention from position ids: a record's logits ignore its neighbours."""
    first, second = torch.arange(5, 25), torch.arange(300, 312)
    with torch.no_grad():
        alone = model(second[None], use_cache=False).logits[0]
        ids = torch.cat([first, second])[None]
        pos = torch.tensor(positions([20, 12]))[None]
        packed = model(input_ids=ids, position_ids=pos, use_cache=False).logits[0, 20:]
    assert torch.allclose(alone, packed, atol=1e-5)


def test_groups_keep_rows_whole() -> None:
    assert list(groups([3, 3, 3, 9, 1], 6)) == [[0, 1], [2], [3], [4]]


def test_pair_metrics_against_itself_and_no_reference(
    model: Any, base_model: Path, pairs_dir: Path
) -> None:
    cfg = tiny_config(Path("unused"), base_model)
    td = load_data([str(pairs_dir)], cfg, kinds=("preference",), model=cfg.model)
    same = pair_metrics(model, td.train, beta=0.1, reference=model)
    assert same == {"accuracy": 0.0, "margin": 0.0, "pairs": len(td.train), "beta": 0.1}
    own = pair_metrics(model, td.train, beta=1.0)
    assert 0.0 < own["accuracy"] < 1.0 and own["margin"] != 0.0


def test_eval_writes_metrics_per_source_and_generations(
    tmp_path: Path, base_model: Path, sft_dir: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model)
    metrics = run_eval(cfg, str(base_model), [str(sft_dir)], output=tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["loss"] == pytest.approx(metrics["loss"]) and saved["split"] == "validation"
    assert saved["perplexity"] == pytest.approx(math.exp(saved["loss"]))
    assert saved["per_source"]["alpaca_en_demo"]["records"] == 12
    gens = (tmp_path / "generations.jsonl").read_text().splitlines()
    assert len(gens) == 2 and set(json.loads(gens[0])) == {
        "id",
        "source",
        "prompt",
        "reference",
        "generation",
    }


def test_eval_of_pairs_reports_accuracy_and_margin(
    tmp_path: Path, base_model: Path, pairs_dir: Path
) -> None:
    cfg = tiny_config(tmp_path, base_model)
    metrics = run_eval(
        cfg, str(base_model), [str(pairs_dir)], ref_model=str(base_model), output=tmp_path
    )
    assert metrics["accuracy"] == 0.0 and metrics["margin"] == 0.0  # the policy is its reference
    assert metrics["reference"] == str(base_model)
    assert metrics["pairs"] == metrics["data"]["validation_rows"] >= 1


def test_an_adapter_is_evaluated_on_its_base_which_is_the_pair_reference(
    tmp_path: Path, base_model: Path, sft_dir: Path, pairs_dir: Path
) -> None:
    from postmix.train.sft import run_sft

    cfg = tiny_config(tmp_path / "lora", base_model, max_steps=2, learning_rate=1e-2)
    cfg = cfg.model_copy(update={"lora": cfg.lora.model_copy(update={"enabled": True})})
    assert run_sft(cfg, [str(sft_dir)])["saved"] == "adapter"
    adapter = tmp_path / "lora"
    assert (adapter / "adapter_config.json").is_file() and not (
        adapter / "model.safetensors"
    ).exists()
    pairs = run_eval(cfg, str(adapter), [str(pairs_dir)], output=tmp_path / "pairs")
    assert pairs["reference"] == "adapter base" and pairs["margin"] != 0.0
    loss = run_eval(cfg, str(adapter), [str(sft_dir)], output=tmp_path / "loss")
    base = run_eval(cfg, str(base_model), [str(sft_dir)], output=tmp_path / "base")
    assert loss["loss"] < base["loss"]  # the adapter is applied
