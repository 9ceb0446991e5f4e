"""The dataset card: `README.md` in the Hugging Face format, beside the outputs.

Its YAML header lists each split's files under `configs:`, so
`datasets.load_dataset(OUTPUT_DIR)` (and the Hub, after a push) loads exactly
the outputs and ignores manifest.json and the side files. Licenses come from
the recipe when a dataset names one, else from a table of well-known sources;
anything else is declared `other` and named in the card as unknown.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from postmix.report import summary
from postmix.report.context import environment, recipe_yaml, title_of
from postmix.writers import trl_usage
from postmix.writers.files import atomic_path

# Licenses stated on the dataset cards / repositories of well-known sources (lower-case ids).
HUB_LICENSES: dict[str, str] = {
    "allenai/tulu-3-sft-mixture": "odc-by",
    "anthropic/hh-rlhf": "mit",
    "argilla/ultrafeedback-binarized-preferences-cleaned": "mit",
    "databricks/databricks-dolly-15k": "cc-by-sa-3.0",
    "glaiveai/glaive-function-calling-v2": "apache-2.0",
    "gsm8k": "mit",
    "huggingfaceh4/no_robots": "cc-by-nc-4.0",
    "huggingfaceh4/ultrachat_200k": "mit",
    "huggingfaceh4/ultrafeedback_binarized": "mit",
    "huggingfacetb/smoltalk": "apache-2.0",
    "intel/orca_dpo_pairs": "apache-2.0",
    "meta-math/metamathqa": "mit",
    "nvidia/helpsteer": "cc-by-4.0",
    "nvidia/helpsteer2": "cc-by-4.0",
    "open-orca/openorca": "mit",
    "open-orca/slimorca": "mit",
    "openai/gsm8k": "mit",
    "openassistant/oasst1": "apache-2.0",
    "openassistant/oasst2": "apache-2.0",
    "openbmb/ultrafeedback": "mit",
    "stingning/ultrachat": "mit",
    "tatsu-lab/alpaca": "cc-by-nc-4.0",
    "tiger-lab/mathinstruct": "mit",
    "yahma/alpaca-cleaned": "cc-by-4.0",
}
# Local copies of public files, by file name (the upstream repository's license).
FILE_LICENSES: tuple[tuple[str, str], ...] = (
    ("*databricks-dolly-15k*", "cc-by-sa-3.0"),
    ("alpaca_en_demo.json", "apache-2.0"),
    ("dpo_en_demo.json", "apache-2.0"),
    ("kto_en_demo.json", "apache-2.0"),
    ("glaive_toolcall_en_demo.json", "apache-2.0"),
    ("code_alpaca_2k.json", "apache-2.0"),
    ("gsm_8k_train.json", "mit"),
    ("codegen-instruct.json", "mit"),
    ("toolformer-*-dataset.json", "mit"),
    ("ultra_eval.json", "mit"),
)
UNKNOWN = "other"
KIND_TEXT = {
    "sft": "A supervised fine-tuning (SFT)",
    "preference": "A preference (DPO, reward modelling)",
    "prompt": "A prompt-only (RL)",
    "text": "A plain-text",
    "kto": "An unpaired preference (KTO)",
}


@dataclass(frozen=True)
class License:
    id: str  # a Hub license id, or "other"
    basis: str  # recipe | known hub dataset | known file | unknown


def license_of(dataset: dict[str, Any]) -> License:
    """A recipe dataset's license: stated in the recipe, known by hub id or file name, or not."""
    if dataset.get("license"):
        return License(str(dataset["license"]).lower(), "recipe")
    source = str(dataset.get("source", ""))
    if source.lower() in HUB_LICENSES:
        return License(HUB_LICENSES[source.lower()], "known hub dataset")
    name = Path(source).name
    for pattern, lic in FILE_LICENSES:
        if fnmatch.fnmatch(name, pattern):
            return License(lic, "known file")
    return License(UNKNOWN, "unknown")


def size_category(rows: int) -> str:
    """The Hub's `size_categories` bucket for a row count."""
    bounds = ["1K", "10K", "100K", "1M", "10M", "100M", "1B", "10B", "100B", "1T"]
    for i, bound in enumerate(bounds):
        if rows < 10 ** (i + 3):
            return f"n<{bound}" if i == 0 else f"{bounds[i - 1]}<n<{bound}"
    return "n>1T"


def _split_files(out_dir: Path, output: dict[str, Any]) -> tuple[str, list[Path]]:
    """The `data_files` pattern of an output and the files it matches."""
    path = out_dir / output["path"]
    if path.is_dir():  # a `save_to_disk` split: its Arrow shards
        return f"{output['path']}/*.arrow", sorted(path.glob("*.arrow"))
    return output["path"], [path] if path.exists() else []


def _schema(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        return pq.read_schema(path)
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_stream(source).schema


def features(paths: list[Path]) -> Any:
    """Features of typed (Parquet / Arrow) outputs, unified over every split's files.

    Split files may differ in optional columns (`system`, `tools`); declaring the
    union lets `load_dataset` fill the missing ones with nulls instead of failing.
    JSONL outputs get none: `datasets` infers them, as rows vary in their keys.
    """
    typed = [p for p in paths if p.suffix in (".parquet", ".arrow")]
    if not typed or len(typed) != len(paths):
        return None
    import pyarrow as pa
    from datasets import Features

    schema = pa.unify_schemas([_schema(p) for p in typed], promote_options="permissive")
    return Features.from_arrow_schema(schema)


def dataset_info(out_dir: Path, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """`dataset_info` (split sizes, features when typed) serialized by `datasets` itself.

    JSONL outputs have no features to declare, and importing `datasets` costs
    seconds on every `prepare`: their split sizes are written directly.
    """
    sizes: list[tuple[str, int, int]] = []
    files: list[Path] = []
    for o in outputs:
        paths = _split_files(out_dir, o)[1]
        files += paths
        sizes.append((o["split"], sum(p.stat().st_size for p in paths), int(o["rows"])))
    if not any(p.suffix in (".parquet", ".arrow") for p in files):
        total = sum(size for _, size, _ in sizes)
        return {
            "splits": [{"name": n, "num_bytes": b, "num_examples": r} for n, b, r in sizes],
            "download_size": total,
            "dataset_size": total,
        }
    from datasets import DatasetInfo, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.splits import SplitDict
    from huggingface_hub import DatasetCardData

    splits = SplitDict()
    for name, size, rows in sizes:
        splits.add(SplitInfo(name=name, num_bytes=size, num_examples=rows))
    info = DatasetInfo(features=features(files), splits=splits)
    card = DatasetCardData()
    DatasetInfosDict({"default": info}).to_dataset_card_data(card)
    return card.to_dict()["dataset_info"]


def _languages(manifest: dict[str, Any]) -> list[str]:
    counts: dict[str, int] = {}
    for s in manifest["sources"].values():
        for lang, n in s.get("languages", {}).items():
            counts[lang] = counts.get(lang, 0) + n
    return [k for k, _ in sorted(counts.items(), key=lambda kv: -kv[1]) if _is_language_code(k)]


def _is_language_code(code: str) -> bool:
    """ISO 639-1/3 codes only (language detectors also report labels like `unknown`)."""
    return len(code) in (2, 3) and code.isalpha() and code.islower()


def header(out_dir: Path, manifest: dict[str, Any], target: Path | None = None) -> dict[str, Any]:
    """The card's YAML metadata (`target`: where the files will live, when written aside)."""
    recipe = manifest.get("recipe") or {}
    kind = (recipe.get("metadata") or {}).get("kind", "sft")
    licenses = sorted({license_of(d).id for d in recipe.get("datasets", [])}) or [UNKNOWN]
    outputs = [o for o in manifest.get("outputs", []) if int(o.get("rows") or 0) > 0]
    meta: dict[str, Any] = {
        "pretty_name": title_of(target or out_dir, manifest),
        "license": licenses[0] if len(licenses) == 1 else licenses,
    }
    languages = _languages(manifest)
    if languages:
        meta["language"] = languages
    meta.update(
        task_categories=["text-generation"],
        tags=["postmix", kind, *(["dpo"] if kind == "preference" else [])],
        size_categories=[size_category(sum(int(o["rows"]) for o in outputs))],
        configs=[
            {
                "config_name": "default",
                "data_files": [
                    {"split": o["split"], "path": _split_files(out_dir, o)[0]} for o in outputs
                ],
            }
        ],
        dataset_info=dataset_info(out_dir, outputs),
    )
    return meta


def _step(config: dict[str, Any]) -> str:
    """A recipe filter/transform as `type (key=value, ...)`."""
    args = ", ".join(f"{k}={v}" for k, v in config.items() if k != "type")
    return f"`{config.get('type', '?')}`" + (f" ({args})" if args else "")


def render(
    out_dir: Path, manifest: dict[str, Any], repo_id: str | None = None, target: Path | None = None
) -> str:
    """The whole card: YAML header, then sources, mix, filters, dedup, decontamination, build."""
    manifest = summary.in_recipe_order(manifest)
    recipe = manifest.get("recipe") or {}
    datasets = {d["name"]: d for d in recipe.get("datasets", [])}
    meta = header(out_dir, manifest, target)
    env = environment(autoescape=False)
    env.filters["step"] = _step
    body = env.get_template("card.md.jinja").render(
        m=manifest,
        meta=meta,
        recipe=recipe,
        recipe_yaml=recipe_yaml(manifest),
        describe_kind=KIND_TEXT[(recipe.get("metadata") or {}).get("kind", "sft")],
        datasets=datasets,
        licenses={name: license_of(d) for name, d in datasets.items()},
        funnel=summary.funnel_table(manifest),
        mix=summary.mix_table(manifest),
        load_path=repo_id or str(target or out_dir),
        training=trl_usage.section(out_dir, manifest, repo_id or str(target or out_dir), target),
    )
    yaml_text = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{yaml_text}---\n\n{body}"


def write_card(
    out_dir: str | Path,
    manifest: dict[str, Any],
    repo_id: str | None = None,
    target: Path | None = None,
) -> Path:
    """`README.md`: the Hugging Face dataset card of the output dir (staged in `out_dir`,
    committed to `target`, which names it)."""
    out = Path(out_dir)
    return write_text(out / "README.md", render(out, manifest, repo_id, target))


def write_text(path: Path, text: str) -> Path:
    """Write atomically, so a failed render never leaves half a file behind a valid name."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
