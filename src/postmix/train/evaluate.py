"""Evaluation on the validation split: response-only loss, preference accuracy, generations.

Loss counts only the tokens the labels train (assistant replies and their end
tokens), summed over tokens and divided by their number, overall and per
source. Rows are fed padding-free: whole rows laid end to end with
`position_ids` restarting at every record and no attention mask, so
transformers builds a block-diagonal mask and no record sees another (with
`use_cache=False`: with a cache it would not). Packed and unpacked rows give
the same numbers.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from postmix.tokenize import IGNORE
from postmix.train.config import TrainConfig

GENERATIONS = "generations.jsonl"


def groups(lengths: Sequence[int], budget: int) -> Iterator[list[int]]:
    """Consecutive row indices whose lengths add up to at most `budget` (a longer row alone)."""
    group: list[int] = []
    total = 0
    for i, n in enumerate(lengths):
        if group and total + n > budget:
            yield group
            group, total = [], 0
        group.append(i)
        total += n
    if group:
        yield group


def positions(seq_lengths: Sequence[int]) -> np.ndarray:
    """Position ids restarting at 0 at the start of every record."""
    lengths = np.asarray(seq_lengths, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return np.arange(int(lengths.sum())) - np.repeat(starts, lengths)


def device_of(model: Any) -> Any:
    return next(model.parameters()).device


def token_nll(
    model: Any, rows: Sequence[tuple[Sequence[int], Sequence[int], Sequence[int]]], budget: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per row (input_ids, labels, seq_lengths): each token's negative log-likelihood and
    whether it counts (labelled, and not the first token of a record)."""
    import torch
    import torch.nn.functional as F

    device = device_of(model)
    lengths = [len(r[0]) for r in rows]
    for group in groups(lengths, budget):
        ids = torch.tensor(np.concatenate([rows[i][0] for i in group]), device=device)
        labels = torch.tensor(np.concatenate([rows[i][1] for i in group]), device=device)
        pos = torch.tensor(np.concatenate([positions(rows[i][2]) for i in group]), device=device)
        with torch.no_grad():
            logits = model(input_ids=ids[None], position_ids=pos[None], use_cache=False).logits[0]
        target = labels[1:].masked_fill(pos[1:] == 0, IGNORE)
        nll = F.cross_entropy(logits[:-1].float(), target, ignore_index=IGNORE, reduction="none")
        nll = torch.cat([nll.new_zeros(1), nll]).cpu().numpy()
        counts = torch.cat([target.new_zeros(1, dtype=torch.bool), target != IGNORE]).cpu().numpy()
        offsets = np.cumsum([0] + [lengths[i] for i in group])
        for k in range(len(group)):
            yield nll[offsets[k] : offsets[k + 1]], counts[offsets[k] : offsets[k + 1]]


def _summary(nll: float, tokens: int) -> dict[str, Any]:
    loss = nll / tokens if tokens else float("nan")
    return {
        "loss": loss,
        "perplexity": math.exp(loss) if tokens else float("nan"),
        "tokens": tokens,
    }


def lm_metrics(model: Any, ds: Any, budget: int = 1024) -> dict[str, Any]:
    """Response-only loss and perplexity, overall and per source, of sft/text rows."""
    rows = list(zip(ds["input_ids"], ds["labels"], ds["seq_lengths"]))
    sources = ds["sources"] if "sources" in ds.column_names else [[None] * len(r[2]) for r in rows]
    nll_by: dict[Any, float] = defaultdict(float)
    tokens_by: dict[Any, int] = defaultdict(int)
    records_by: dict[Any, int] = defaultdict(int)
    was_training = model.training
    model.eval()
    for (nll, counts), row, srcs in zip(token_nll(model, rows, budget), rows, sources):
        record = np.repeat(np.arange(len(row[2])), row[2])
        per_nll = np.bincount(record, weights=nll * counts, minlength=len(row[2]))
        per_tok = np.bincount(record, weights=counts, minlength=len(row[2]))
        for src, a, n in zip(srcs, per_nll.tolist(), per_tok.tolist()):
            nll_by[src] += a
            tokens_by[src] += int(n)
            records_by[src] += 1
    model.train(was_training)
    total = _summary(sum(nll_by.values()), sum(tokens_by.values()))
    total["per_source"] = {
        str(src): {**_summary(nll_by[src], tokens_by[src]), "records": records_by[src]}
        for src in sorted(nll_by, key=str)
    }
    return total


def _pair_rows(ds: Any) -> list[tuple[list[int], list[int], list[int]]]:
    """prompt+chosen and prompt+rejected of every pair, labelled on the reply only."""
    rows = []
    for prompt, chosen, rejected in zip(ds["prompt_ids"], ds["chosen_ids"], ds["rejected_ids"]):
        for reply in (chosen, rejected):
            ids = list(prompt) + list(reply)
            rows.append((ids, [IGNORE] * len(prompt) + list(reply), [len(ids)]))
    return rows


def sequence_logps(model: Any, rows: list[Any], budget: int) -> np.ndarray:
    """Summed log-probability of the labelled tokens of each row."""
    was_training = model.training
    model.eval()
    out = np.array([-(nll * counts).sum() for nll, counts in token_nll(model, rows, budget)])
    model.train(was_training)
    return out


def pair_metrics(
    model: Any, ds: Any, *, beta: float, reference: Any = None, budget: int = 1024
) -> dict[str, Any]:
    """DPO's implicit reward on pairs: accuracy (chosen above rejected) and mean margin.

    Rewards are `beta * (log p_policy - log p_reference)` over the reply tokens.
    `reference`: a model, "adapter" (the policy with its LoRA adapter disabled),
    or None (no reference: the policy's own log-probability difference).
    """
    rows = _pair_rows(ds)
    policy = sequence_logps(model, rows, budget)
    if reference == "adapter":
        with model.disable_adapter():
            ref = sequence_logps(model, rows, budget)
    elif reference is not None:
        ref = sequence_logps(reference, rows, budget)
    else:
        ref = np.zeros_like(policy)
    rewards = beta * (policy - ref)
    chosen, rejected = rewards[0::2], rewards[1::2]
    return {
        "accuracy": float(np.mean(chosen > rejected)) if len(chosen) else float("nan"),
        "margin": float(np.mean(chosen - rejected)) if len(chosen) else float("nan"),
        "pairs": len(chosen),
        "beta": beta,
    }


def gen_prompts(ds: Any, kind: str, n: int) -> list[dict[str, Any]]:
    """Up to `n` prompts with their reference replies, as token ids, from validation rows.

    sft: each record's ids up to its first trained token (the conversation
    before the first reply, with the generation prompt), the reference being
    that reply; pairs: the prompt and the chosen reply.
    """
    out: list[dict[str, Any]] = []
    for row in ds:
        if len(out) >= n:
            break
        if kind == "preference":
            out.append(
                {
                    "prompt_ids": list(row["prompt_ids"]),
                    "reference_ids": list(row["chosen_ids"]),
                    "id": row.get("id"),
                    "source": row.get("source"),
                }
            )
            continue
        start = 0
        for length, src, rid in zip(row["seq_lengths"], row["sources"], row["ids"]):
            ids = np.asarray(row["input_ids"][start : start + length])
            labels = np.asarray(row["labels"][start : start + length])
            start += length
            trained = np.flatnonzero(labels != IGNORE)
            if not len(trained) or trained[0] == 0 or len(out) >= n:
                continue
            first = int(trained[0])
            gaps = np.flatnonzero(np.diff(trained) > 1)
            stop = int(trained[gaps[0]]) + 1 if len(gaps) else int(trained[-1]) + 1
            out.append(
                {
                    "prompt_ids": ids[:first].tolist(),
                    "reference_ids": ids[first:stop].tolist(),
                    "id": rid,
                    "source": src,
                }
            )
    return out


def stop_ids(tok: Any, prompts: list[dict[str, Any]]) -> list[int]:
    """eos, plus the template's end-of-turn token where it is a token of its own."""
    added = set(tok.added_tokens_decoder)
    ends = {p["reference_ids"][-1] for p in prompts if p["reference_ids"]}
    stops = {t for t in ends if t in added}
    if tok.eos_token_id is not None:
        stops.add(tok.eos_token_id)
    return sorted(stops)


def generate(
    model: Any, tok: Any, prompts: list[dict[str, Any]], max_new_tokens: int
) -> list[dict[str, Any]]:
    """Greedy continuations of each prompt, decoded with the prompt and the reference."""
    import torch

    device = device_of(model)
    stops = stop_ids(tok, prompts)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    was_training = model.training
    model.eval()
    out = []
    for p in prompts:
        ids = torch.tensor([p["prompt_ids"]], device=device)
        with torch.no_grad():
            gen = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=stops,
                pad_token_id=pad,
            )[0, ids.shape[1] :]
        out.append(
            {
                "id": p["id"],
                "source": p["source"],
                "prompt": tok.decode(p["prompt_ids"]),
                "reference": tok.decode(p["reference_ids"]),
                "generation": tok.decode(gen.tolist()),
            }
        )
    model.train(was_training)
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def lm_eval_handoff(model_dir: str, tasks: list[str], out: Path) -> dict[str, Any] | None:
    """Run lm-evaluation-harness tasks on the saved model when the harness is installed."""
    if not tasks:
        return None
    try:
        import lm_eval
    except ImportError:
        return {"skipped": "lm-evaluation-harness is not installed (pip install lm-eval)"}
    from postmix.train.common import ADAPTER_CONFIG, is_adapter

    if is_adapter(model_dir):
        base = json.loads((Path(model_dir) / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
        model_args = f"pretrained={base},peft={model_dir}"
    else:
        model_args = f"pretrained={model_dir}"
    results = lm_eval.simple_evaluate(model="hf", model_args=model_args, tasks=list(tasks))
    payload = results.get("results", {}) if results else {}
    (out / "lm_eval.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return payload


def evaluate_split(
    model: Any, ds: Any, kind: str, *, beta: float, reference: Any, budget: int
) -> dict[str, Any]:
    """Loss metrics for sft/text rows, accuracy and margin for pairs."""
    if kind == "preference":
        return pair_metrics(model, ds, beta=beta, reference=reference, budget=budget)
    return lm_metrics(model, ds, budget)


def default_output(model: str) -> Path:
    """`<model dir>/eval` for a local model, else `out/eval`."""
    return Path(model) / "eval" if Path(model).is_dir() else Path("out/eval")


def run_eval(
    cfg: TrainConfig,
    model: str,
    data: Sequence[str],
    *,
    ref_model: str | None = None,
    output: Path | None = None,
) -> dict[str, Any]:
    """`postmix eval`: metrics on the validation split, generations, optional lm-eval tasks.

    An adapter dir is evaluated on its base, with the adapter; the base alone
    is then the reference for pairs unless `ref_model` names another; a full
    model has no reference unless `ref_model` is given. Messages data is tokenized with the model's
    saved tokenizer and chat template when it has them.
    """
    from postmix.train.common import has_gpu, is_adapter, load_model, write_metrics
    from postmix.train.data import load_data

    out = output or default_output(model)
    cfg = cfg.model_copy(update={"output": str(out)})
    saved = model if (Path(model) / "tokenizer_config.json").is_file() else None
    kinds = ("sft", "text", "preference")
    td = load_data(data, cfg, kinds=kinds, model=model, model_tokenizer=saved)
    split, ds = ("validation", td.validation) if td.validation is not None else ("train", td.train)
    device = "cuda" if has_gpu() else "cpu"
    policy = load_model(model, cfg, merge_adapter=False).to(device)
    reference: Any = None
    if ref_model is not None:
        reference = load_model(ref_model, cfg).to(device)
    elif is_adapter(model):
        reference = "adapter"
    metrics: dict[str, Any] = {"model": model, "data": td.stats, "split": split}
    metrics.update(
        evaluate_split(
            policy,
            ds,
            td.kind,
            beta=cfg.dpo.beta,
            reference=reference,
            budget=cfg.eval.batch_tokens or cfg.max_seq_length,
        )
    )
    if td.kind == "preference":
        metrics["reference"] = ref_model or ("adapter base" if reference == "adapter" else None)
    if cfg.eval.generations:
        prompts = gen_prompts(ds, td.kind, cfg.eval.generations)
        rows = generate(policy, td.tokenizer, prompts, cfg.eval.max_new_tokens)
        metrics["generations"] = str(write_jsonl(out / GENERATIONS, rows))
    lm_eval = lm_eval_handoff(model, cfg.eval.lm_eval_tasks, out)
    if lm_eval is not None:
        metrics["lm_eval"] = lm_eval
    write_metrics(out, metrics)
    return metrics
