#!/usr/bin/env bash
# Best-by-dev vs final weights of a demo run's reader: export checkpoints/last.ckpt beside hf/ (the best by dev EM
# when the run was made with --export best), answer the test questions with both, score both per gold category.
# Behind the demo's `reader_export: last` (docs/notes/2026-12-07-reader-export.md).
#
#   bash experiments/reader_export_choice.sh runs/demo /tmp/reader_last
set -euo pipefail
run=$1 out=$2
rm -rf "$out" && mkdir -p "$out"
cp -r "$run/models/reader/." "$out/reader" && rm -rf "$out/reader/checkpoints"
python - "$run/models/reader/checkpoints/last.ckpt" "$out/reader/hf/model.safetensors" <<'PY'
import sys
import torch
from safetensors.torch import load_file, save_file
ckpt, target = sys.argv[1], sys.argv[2]
state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
names = load_file(target).keys()  # (tied weights are stored once)
save_file({k: state[f"t5.{k}"].contiguous() for k in names}, target, metadata={"format": "pt"})
PY
cbqa reader predict --model "$out/reader" --retrieved "$run/retrieval/test.jsonl" --out "$out/last.jsonl"
cbqa evaluate --predictions exported="$run/predictions/retrieval_fid.jsonl" last="$out/last.jsonl" \
    floor_rank="$run/predictions/extractive_floor.jsonl" floor_sentence="$run/predictions/extractive_floor_sentence.jsonl" \
    --gold "$run/world/test.jsonl" --overlap "$run/world/overlap_gold.jsonl"
