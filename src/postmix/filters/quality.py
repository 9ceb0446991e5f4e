"""Heuristic quality rules for instruction data, checked on what the model learns to say.

Checked texts: each assistant reply of an SFT record (against the user turn it
answers), the chosen side of a preference pair (a refusal on the rejected side
is what a pair is for), and the document of a text record. Prompt records have
no reply and always pass. The first rule that fires names the drop
(`quality:<rule>`); setting a rule's threshold to null turns it off.

Rules and where they come from:
- `refusal`: the reply contains one of `refusal_phrases`, case-insensitively
  (straight and curly apostrophes alike). The default list is the core of the
  phrase lists used to strip AI disclaimers and refusals from distilled data
  (the "*_unfiltered" WizardLM/Vicuna sets): "As an AI language model",
  "I cannot fulfill", ... Phrases are specific on purpose: "I'm sorry" alone
  is common in good replies.
- `placeholder`: the whole reply is a placeholder such as "<nooutput>" or
  "N/A" (Alpaca-cleaned removed these "empty" and "N/A" outputs).
- `copies_prompt`: the reply equals the user turn it answers, after
  normalization (Alpaca-cleaned's outputs that repeat the instruction).
- `repeated_lines`: the share of characters in lines that repeat an earlier
  line of the reply exceeds `max_dup_line_char_frac` (Gopher, Rae et al. 2021,
  "duplicate line character fraction"). Characters rather than lines are
  counted, so short repeated lines such as a closing `}` weigh little.
- `repeated_ngrams`: the share of word characters covered by word n-grams
  (`ngram_size`) that occur more than once exceeds `max_dup_ngram_char_frac`
  (Gopher's "duplicate n-gram character fraction"). Looping generations fire it.
- `non_alphanumeric`: fewer than `min_alnum_frac` of the non-space
  characters are letters or digits (any script), in the spirit of Gopher's
  symbol and alphabetic-word rules: markup debris, rows of symbols, mojibake.

Gopher's thresholds (0.20 for lines; 0.15 for 5-grams down to 0.10 for
10-grams) are for web pages. Instruction replies are short and legitimately
templated (step-by-step arithmetic, HTML tables, a song's chorus): at Gopher's
5-gram threshold 6.6% of GSM8K answers and 3.8% of GPTeacher Toolformer
replies would go. The defaults (0.5 for lines and for 10-grams; 0.25
alphanumeric, low enough for most regex answers) drop none of those and 0.35%
of Code Alpaca's replies: three repeated blocks (an array of 24 zeros, HTML
rows) and four symbol-dense regexes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar, Literal

from pydantic import Field

from postmix.filters.base import FilterConfig
from postmix.schema import normalize_text
from postmix.steps import Batch, FilterFn, StepEnv

REFUSAL_PHRASES: tuple[str, ...] = (
    "as an ai language model",
    "as a language model",
    "as an ai model",
    "i am an ai language model",
    "i'm an ai language model",
    "as an ai, i cannot",
    "as an ai, i can't",
    "as an ai, i do not",
    "as an ai, i don't",
    "i cannot fulfill",
    "i can't fulfill",
    "i cannot comply",
    "i can't comply",
    "i'm sorry, but i cannot",
    "i'm sorry, but i can't",
    "i apologize, but i cannot",
    "i apologize, but i can't",
    "i do not have personal opinions",
    "i don't have personal opinions",
    "my knowledge cutoff",
    "openai's content policy",
)
PLACEHOLDERS: tuple[str, ...] = ("<nooutput>", "<no output>", "nooutput", "n/a", "<noinput>")


class Config(FilterConfig):
    bucket_by_detail: ClassVar[bool] = True
    type: Literal["quality"]
    refusal_phrases: list[str] = Field(default_factory=lambda: list(REFUSAL_PHRASES))
    placeholders: list[str] = Field(default_factory=lambda: list(PLACEHOLDERS))
    reject_prompt_copy: bool = True
    max_dup_line_char_frac: float | None = Field(default=0.5, ge=0.0, le=1.0)
    max_dup_ngram_char_frac: float | None = Field(default=0.5, ge=0.0, le=1.0)
    ngram_size: int = Field(default=10, ge=1)
    min_alnum_frac: float | None = Field(default=0.25, ge=0.0, le=1.0)


def checked_pairs(rec: dict) -> Iterator[tuple[str, str | None]]:
    """(reply, the user turn it answers) for each text the rules look at."""
    kind = rec["kind"]
    if kind == "text":
        yield rec["text"] or "", None
        return
    last_user: str | None = None
    for m in rec["messages"]:
        if m["role"] == "user":
            last_user = m["content"]
        elif m["role"] == "assistant" and kind == "sft":
            yield m["content"], last_user
    if kind == "preference":
        for m in rec["chosen"] or ():
            yield m["content"], last_user


def folded(text: str) -> str:
    """Case-folded, with curly apostrophes straightened (phrase lists use straight ones)."""
    return text.casefold().replace("’", "'")


def dup_line_char_frac(text: str) -> float:
    """Characters in non-blank lines that repeat an earlier line, over all non-blank line chars."""
    seen: set[str] = set()
    total = dup = 0
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        total += len(line)
        if line in seen:
            dup += len(line)
        else:
            seen.add(line)
    return dup / total if total else 0.0


def dup_ngram_char_frac(text: str, n: int) -> float:
    """Characters of words covered by a repeated word n-gram, over all word characters."""
    words = text.split()
    grams = list(zip(*(words[i:] for i in range(n)), strict=False))
    if len(set(grams)) == len(grams):
        return 0.0
    seen: set[tuple[str, ...]] = set()
    covered = [False] * len(words)
    for i, gram in enumerate(grams):
        if gram in seen:
            covered[i : i + n] = [True] * n
        else:
            seen.add(gram)
    total = sum(map(len, words))
    return sum(len(w) for w, c in zip(words, covered, strict=True) if c) / total


def alnum_frac(text: str) -> float:
    chars = "".join(text.split())
    return sum(map(str.isalnum, chars)) / len(chars) if chars else 1.0


def copies(reply: str, prompt: str) -> bool:
    """Reply equals prompt after normalization (word counts are compared first: it is cheaper)."""
    return len(reply.split()) == len(prompt.split()) and normalize_text(reply) == normalize_text(
        prompt
    )


# A rule sees (reply, folded reply, the user turn it answers) and says whether it fires.
Rule = Callable[[str, str, str | None], bool]


def rules(cfg: Config) -> list[tuple[str, Rule]]:
    """The enabled rules, in the order they are tried."""
    phrases = tuple(folded(p) for p in cfg.refusal_phrases)
    placeholders = frozenset(folded(p).strip() for p in cfg.placeholders)
    line_max, ngram_max = cfg.max_dup_line_char_frac, cfg.max_dup_ngram_char_frac
    alnum_min = cfg.min_alnum_frac
    out: list[tuple[str, Rule]] = []
    if phrases:
        out.append(("refusal", lambda r, low, p: any(x in low for x in phrases)))
    if placeholders:
        out.append(("placeholder", lambda r, low, p: low.strip() in placeholders))
    if cfg.reject_prompt_copy:
        out.append(("copies_prompt", lambda r, low, p: p is not None and copies(r, p)))
    if line_max is not None:
        out.append(("repeated_lines", lambda r, low, p: dup_line_char_frac(r) > line_max))
    if ngram_max is not None:
        n = cfg.ngram_size
        out.append(("repeated_ngrams", lambda r, low, p: dup_ngram_char_frac(low, n) > ngram_max))
    if alnum_min is not None:
        out.append(("non_alphanumeric", lambda r, low, p: alnum_frac(r) < alnum_min))
    return out


def build(cfg: Config, env: StepEnv) -> FilterFn:
    enabled = rules(cfg)

    def check(rec: dict) -> str | None:
        for reply, prompt in checked_pairs(rec):
            low = folded(reply)
            for name, fires in enabled:
                if fires(reply, low, prompt):
                    return name
        return None

    def run(batch: Batch) -> list[str | None]:
        return [check(r) for r in batch]

    return run
