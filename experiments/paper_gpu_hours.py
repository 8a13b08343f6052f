"""The estimated GPU hours of configs/paper/, from nanoT5's published throughput: the figures the results registry
holds as `estimate` entries (`gpu_hours.MODEL.RECIPE`) and the configs state in their comments.

    hours = steps x tokens per step / R x (P / P_base) / 3600

- R: nanoT5's pre-training rate of T5-v1.1-base on one A100 80GB (bf16, torch.compile): a step of 144 sequences of
  512 input tokens in 0.56 s (published entry `nanot5.seconds_per_step`), i.e. 144 x 512 / 0.56 = 131,657 input
  tokens/s for P_base parameters (T5-v1.1-base, counted here);
- cost per token grows with the parameter count P of the model (the 6 N D rule), and every other cost (attention
  over longer inputs, decoding for validation, data loading, several GPUs' communication) is left out: an estimate;
- tokens per step: the paper's batch of 196,608 tokens (t5_closed_book_qa's README: `tokens_per_batch`, 196608);
  half of it for WebQuestions, whose batch the paper halves;
- steps: 100,000 for SSM (the released SSM checkpoints), 20,000 to fine-tune with a held-out validation set, 10,000
  on the whole train split (the released checkpoints' model cards).

Parameter counts are those of the hub configs' architectures, built on the meta device (nothing downloaded).

    python experiments/paper_gpu_hours.py            # the table, and the registry entries as YAML
    python experiments/paper_gpu_hours.py --check    # exit 1 if the registry or a config comment differs
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECONDS_PER_STEP, BATCH, INPUT_LEN = 0.56, 144, 512  # nanoT5, published
RATE = BATCH * INPUT_LEN / SECONDS_PER_STEP  # input tokens per second
TOKENS_PER_STEP = 196_608

# name -> (d_model, d_ff, d_kv, heads, layers, gated feed-forward and untied head (T5.1.1))
MODELS = {
    "t5-small": (512, 2048, 64, 8, 6, False),
    "t5-base": (768, 3072, 64, 12, 12, False),
    "t5-large": (1024, 4096, 64, 16, 24, False),
    "t5-3b": (1024, 16384, 128, 32, 24, False),
    "t5-11b": (1024, 65536, 128, 128, 24, False),
    "t5-v1_1-small": (512, 1024, 64, 6, 8, True),
    "t5-v1_1-base": (768, 2048, 64, 12, 12, True),
    "t5-v1_1-large": (1024, 2816, 64, 16, 24, True),
    "t5-v1_1-xl": (2048, 5120, 64, 32, 24, True),
    "t5-v1_1-xxl": (4096, 10240, 64, 64, 24, True),
}
# recipe -> (steps, tokens per step, what)
RECIPES = {
    "ssm": (100_000, TOKENS_PER_STEP, "SSM continued pre-training"),
    "finetune": (20_000, TOKENS_PER_STEP, "fine-tuning, held-out validation (NQ, TriviaQA, the mixture)"),
    "finetune_wq": (20_000, TOKENS_PER_STEP // 2, "fine-tuning on WebQuestions, held-out validation"),
    "finetune_full": (10_000, TOKENS_PER_STEP, "fine-tuning on the whole train split (NQ, TriviaQA, the mixture)"),
    "finetune_full_wq": (10_000, TOKENS_PER_STEP // 2, "fine-tuning on the whole WebQuestions train split"),
}


def parameters(name: str) -> int:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    d_model, d_ff, d_kv, heads, layers, v1_1 = MODELS[name]
    config = T5Config(
        vocab_size=32128,
        d_model=d_model,
        d_ff=d_ff,
        d_kv=d_kv,
        num_heads=heads,
        num_layers=layers,
        num_decoder_layers=layers,
        feed_forward_proj="gated-gelu" if v1_1 else "relu",
        tie_word_embeddings=not v1_1,
    )
    with torch.device("meta"):
        model = T5ForConditionalGeneration(config)
    count = sum(p.numel() for p in model.parameters())
    if v1_1 and model.lm_head.weight is model.shared.weight:  # transformers ties by default; T5.1.1's head is its own
        count += model.lm_head.weight.numel()
    return count


def hours(params: int, base: int, steps: int, tokens: int) -> float:
    return steps * tokens / RATE * (params / base) / 3600


def table() -> dict[tuple[str, str], tuple[float, int]]:
    counts = {m: parameters(m) for m in MODELS}
    base = counts["t5-v1_1-base"]
    return {
        (m, r): (round(hours(counts[m], base, s, t), 1), counts[m]) for m in MODELS for r, (s, t, _) in RECIPES.items()
    }


FORMULA = (
    "GPU hours = steps x tokens per step / (144 x 512 tokens / 0.56 s) x (parameters / 247,577,856) / 3600, "
    "one A100, bf16 + compile (experiments/paper_gpu_hours.py)"
)


def entries(values: dict[tuple[str, str], tuple[float, int]]) -> str:
    out = []
    for (m, r), (value, p) in values.items():
        steps, tokens, what = RECIPES[r]
        out.append(
            f"  - id: gpu_hours.{m}.{r}\n    kind: estimate\n"
            f'    what: "{m} ({p:,} parameters), {what}: {steps:,} steps of {tokens:,} tokens"\n'
            f"    unit: GPU h\n    table: paper_gpu_hours\n    row: {m}\n    column: {r}\n    value: {value}\n"
            f'    formula: "{FORMULA}"\n    inputs: [nanot5.seconds_per_step]'
        )
    return "\n".join(out)


def check(values: dict[tuple[str, str], tuple[float, int]]) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from cbqa.results.registry import read_registry

    reg = read_registry(ROOT / "cbqa" / "results" / "registry.yaml")
    problems = []
    for (m, r), (value, _) in values.items():
        try:
            e = reg.entry(f"gpu_hours.{m}.{r}")
        except Exception:
            problems.append(f"registry: no gpu_hours.{m}.{r}")
            continue
        if e.value != value:
            problems.append(f"registry: gpu_hours.{m}.{r} is {e.value}, computed {value}")
    for path, (model, recipe), value in stated_hours():
        if (model, recipe) not in values:
            problems.append(f"{path.relative_to(ROOT)}: states hours of an unknown {model} {recipe}")
        elif value != values[model, recipe][0]:
            problems.append(
                f"{path.relative_to(ROOT)}: {model} {recipe} {value} h, computed {values[model, recipe][0]}"
            )
    return problems


def stated_hours() -> list[tuple[Path, tuple[str, str], float]]:
    """(config, (model, recipe), hours) for every figure the configs' comments state: a recipe's comment lists
    `MODEL X h` for each model, a model file's `RECIPE X h` for each recipe."""
    out = []
    for path in sorted((ROOT / "configs" / "paper").rglob("*.yaml")):
        recipe = _recipe_of(path)
        text = "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))
        if recipe is None:
            for name, value in re.findall(r"\b(ssm|finetune\w*) ([\d.]+) h", text):
                out.append((path, (path.stem, name), float(value)))
        else:
            for model, value in re.findall(r"(t5-[\w-]+) ([\d.]+) h", text):
                out.append((path, (model, recipe), float(value)))
    return out


def _recipe_of(path: Path) -> str | None:
    """The recipe whose hours a config's comment states (None for a model file, which lists all of them)."""
    name = path.stem
    if path.parent.name == "models":
        return None
    if name == "ssm":
        return "ssm"
    full = name.endswith("_test")
    wq = name.startswith("web_questions")
    return "finetune" + ("_full" if full else "") + ("_wq" if wq else "")


if __name__ == "__main__":
    values = table()
    if "--check" in sys.argv:
        problems = check(values)
        print("\n".join(problems) or "registry and configs agree")
        sys.exit(1 if problems else 0)
    print("| model | parameters | " + " | ".join(RECIPES) + " |")
    for m in MODELS:
        print(f"| {m} | {values[m, 'ssm'][1]:,} | " + " | ".join(f"{values[m, r][0]}" for r in RECIPES) + " |")
    print()
    print(entries(values))
