"""The TRL code and config that fit a prepared output, for the dataset card.

One snippet per (kind, schema, packing), each the configuration postmix
recommends and its tests run for a step on a tiny model: packed token rows
need `padding_free=True, max_length=None` (records stay apart through
restarting positions, and TRL neither truncates nor packs them again);
tokenized pairs skip TRL's own tokenization; prompt sets carry `solution` for
`trl.rewards.accuracy_reward`. `MODEL` is the one name a user replaces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODEL = "MODEL"  # placeholder in every snippet: a model dir or hub id
DEFAULT_MAX_LENGTH = 1024
LM_COLUMNS = ["input_ids", "labels", "seq_lengths"]
PAIR_COLUMNS = ["prompt_ids", "chosen_ids", "rejected_ids"]

HEAD = "from datasets import load_dataset\nfrom trl import {imports}\n{extra}\n"
LOAD = 'data = load_dataset("{path}")\n'
TOKENIZER = 'tokenizer = AutoTokenizer.from_pretrained("{path}", subfolder="tokenizer")\n'


def _kind_schema(manifest: dict[str, Any]) -> tuple[str, str, bool, int | None]:
    recipe = manifest.get("recipe") or {}
    meta = recipe.get("metadata") or {}
    schema = (recipe.get("output") or {}).get("schema", "messages")
    length = recipe.get("max_seq_length") or meta.get("max_seq_length")
    return meta.get("kind", "sft"), schema, bool(recipe.get("packing")), length


def _has_solution(out_dir: Path, manifest: dict[str, Any]) -> bool:
    from postmix.report.stats import iter_rows

    train = [o for o in manifest.get("outputs", []) if o["split"] == "train" and o.get("rows")]
    if not train or not (out_dir / train[0]["path"]).exists():
        return False
    first = next(iter(iter_rows(out_dir / train[0]["path"])), {})
    return first.get("solution") is not None


def _code(
    trainer: str,
    config: str,
    path: str,
    body: str,
    args: str,
    *,
    tokenizer: bool = False,
    base: str | None = None,
    reward: str | None = None,
    imports: str = "",
) -> str:
    """Imports, loading, `body`, the config and the trainer call (`base`: the TRL class a
    trainer defined in `body` derives from; `reward`: GRPO's reward function, no eval set)."""
    extra = imports + ("from transformers import AutoTokenizer\n" if tokenizer else "")
    head = HEAD.format(imports=f"{config}, {base or trainer}", extra=extra)
    head += LOAD.format(path=path)
    call = [f'    model="{MODEL}",']
    if reward:
        call.append(f"    reward_funcs={reward},")
    call += ["    args=args,", '    train_dataset=data["train"],']
    if not reward:
        call.append('    eval_dataset=data.get("validation"),')
    if tokenizer:
        call.append("    processing_class=tokenizer,")
    train = f"trainer = {trainer}(\n" + "\n".join(call) + "\n)\ntrainer.train()\n"
    return head + body + f"args = {config}({args})\n" + train


def snippet(out_dir: Path, manifest: dict[str, Any], path: str) -> str | None:
    """Python that trains on this output with TRL as postmix recommends; None if TRL cannot
    read the schema as it is (LLaMA-Factory / axolotl layouts)."""
    kind, schema, packed, length = _kind_schema(manifest)
    if schema == "tokenized":
        body = TOKENIZER.format(path=path)
        if kind in ("sft", "text"):
            cols = LM_COLUMNS if packed else LM_COLUMNS[:2]
            note = (
                "# Rows are packed: position ids restart at every record, so padding-free\n"
                "# batches keep records apart; max_length=None keeps TRL from cutting or\n"
                "# packing them again.\n"
                if packed
                else "# Token ids as prepared; labels are -100 where nothing is trained.\n"
            )
            body += f"data = data.select_columns({cols})\n" + note
            args = 'output_dir="out/sft", padding_free=True, max_length=None, packing=False'
            return _code("SFTTrainer", "SFTConfig", path, body, args, tokenizer=True)
        if kind == "preference":
            body = (
                body + f"data = data.select_columns({PAIR_COLUMNS})\n\n\n"
                "class PretokenizedDPOTrainer(DPOTrainer):\n"
                '    """The pairs hold token ids already: skip TRL\'s own tokenization."""\n\n'
                "    def _prepare_dataset(self, dataset, *args, **kwargs):\n"
                "        return dataset\n\n\n"
            )
            args = 'output_dir="out/dpo"'
            return _code(
                "PretokenizedDPOTrainer",
                "DPOConfig",
                path,
                body,
                args,
                tokenizer=True,
                base="DPOTrainer",
            )
        if kind == "prompt":
            body += (
                "# The prompts are rendered with the chat template already: decode them to text.\n"
                'data = data.map(lambda row: {"prompt": tokenizer.decode(row["prompt_ids"])})\n'
            )
            return _grpo(out_dir, manifest, path, body, tokenizer=True)
        return None
    if schema not in ("messages", "conversations"):
        return None
    body = ""
    if schema == "conversations":
        if kind != "sft":
            return None
        body = 'data = data.rename_column("conversations", "messages")\n'
    max_length = length or DEFAULT_MAX_LENGTH
    if kind in ("sft", "text"):
        args = f'output_dir="out/sft", max_length={max_length}'
        return _code("SFTTrainer", "SFTConfig", path, body, args)
    if kind == "preference":
        return _code(
            "DPOTrainer", "DPOConfig", path, body, f'output_dir="out/dpo", max_length={max_length}'
        )
    if kind == "kto":
        return _code(
            "KTOTrainer", "KTOConfig", path, body, f'output_dir="out/kto", max_length={max_length}'
        )
    if kind == "prompt":
        return _grpo(out_dir, manifest, path, body)
    return None


def _grpo(
    out_dir: Path, manifest: dict[str, Any], path: str, body: str, *, tokenizer: bool = False
) -> str:
    """GRPO: TRL's accuracy reward when the prompts carry a `solution`, else the user's own."""
    imports = ""
    if _has_solution(out_dir, manifest):
        imports = "from trl.rewards import accuracy_reward  # needs `pip install math-verify`\n"
        funcs = "accuracy_reward"
        if tokenizer:  # text prompts give text completions; accuracy_reward reads messages
            body += (
                "\n\ndef text_accuracy(completions, solution, **kwargs):\n"
                '    chats = [[{"role": "assistant", "content": c}] for c in completions]\n'
                "    return accuracy_reward(chats, solution, **kwargs)\n\n\n"
            )
            funcs = "text_accuracy"
    else:
        body = (
            "\n\ndef my_reward(completions, **kwargs):  # the rows hold no reference answer\n"
            "    return [0.0 for _ in completions]\n\n\n" + body
        )
        funcs = "my_reward"
    args = 'output_dir="out/grpo"'
    return _code(
        "GRPOTrainer",
        "GRPOConfig",
        path,
        body,
        args,
        tokenizer=tokenizer,
        reward=funcs,
        imports=imports,
    )


def section(out_dir: Path, manifest: dict[str, Any], path: str, target: Path | None = None) -> str:
    """The card's "Training on it" section: TRL code, then the glue files and their notes
    (`out_dir` holds the files now, `target` is where they will live)."""
    from postmix.writers.glue import AXOLOTL, LLAMAFACTORY, glue_files, notes

    parts = ["## Training on it", ""]
    code = snippet(out_dir, manifest, path)
    if code:
        parts += ["With TRL (replace `MODEL`):", "", "```python", code.rstrip(), "```", ""]
    else:
        parts += ["TRL reads the `messages` and `tokenized` schemas; prepare with one of them.", ""]
    glue = glue_files(out_dir, manifest, target)
    if LLAMAFACTORY in glue:
        parts.append(
            f"- LLaMA-Factory: `{LLAMAFACTORY}` is beside the data; set `dataset_dir` to this "
            "directory and `dataset` / `eval_dataset` to its entries."
        )
    if AXOLOTL in glue:
        parts.append(f"- axolotl: merge `{AXOLOTL}` (its `datasets:` entries) into your config.")
    parts += [f"- {n}" for n in notes(out_dir, manifest)]
    return "\n".join(parts).rstrip() + "\n"
