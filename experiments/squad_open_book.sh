#!/usr/bin/env bash
# SQuAD open-book check (README, "Retrieval baseline on SQuAD"): the same small T5, trained from scratch for the same
# number of steps, closed-book (questions alone) vs Fusion-in-Decoder over the hybrid top-K passages, on SQuAD v1.1
# dev's derived splits (train 8,411 / dev 1,080 / test 1,079 questions; qa.jsonl's `split`). The reader trains on the
# train split's questions over their retrieved passages, mixed with reading examples from the spans store of the
# passages those questions were written from (their `passage_id`s); both are evaluated on `test`.
#
#   bash experiments/squad_open_book.sh [OUT]        (default runs/squad_open_book; finished steps are skipped)
#
# Settings through the environment: STEPS (default 600), BATCH (32), PASSAGES (3), MAX_INPUT_LEN (128),
# VOCAB (4000), MAX_SENTENCES (20000), BEAMS (4).
set -euo pipefail
DATA=${DATA:-../shared/data/squad_v1.1_dev}
OUT=${1:-runs/squad_open_book}
STEPS=${STEPS:-600}; BATCH=${BATCH:-32}; PASSAGES=${PASSAGES:-3}; MAX_INPUT_LEN=${MAX_INPUT_LEN:-128}
VOCAB=${VOCAB:-4000}; MAX_SENTENCES=${MAX_SENTENCES:-20000}; BEAMS=${BEAMS:-4}
CBQA=${CBQA:-.venv/bin/cbqa}
mkdir -p "$OUT"
start=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - start )) s)"; }

[ -f "$OUT/tokenizer/spiece.model" ] || { step tokenizer; $CBQA tokenizer --corpus "$DATA/passages.jsonl" --qa "$DATA/qa.jsonl" --out "$OUT/tokenizer" --vocab-size "$VOCAB"; }
[ -f "$OUT/spans/manifest.json" ] || { step ner; $CBQA ner --corpus "$DATA/passages.jsonl" --out "$OUT/spans" --no-progress; }
[ -f "$OUT/index/manifest.json" ] || { step index; $CBQA index --corpus "$DATA/passages.jsonl" --out "$OUT/index" --bm25; }
for split in train dev test; do
  [ -f "$OUT/retrieved/$split.jsonl" ] || { step "retrieve $split"; $CBQA retrieve --index "$OUT/index" --questions "$DATA/qa.jsonl" --split "$split" --retriever hybrid --k 20 --out "$OUT/retrieved/$split.jsonl"; }
done
$CBQA retrieval-eval --retrieved "$OUT/retrieved/test.jsonl" --json "$OUT/retrieved/recall.json"
[ -f "$OUT/retrieved/reading.jsonl" ] || { step "reading examples"; $CBQA reader reading-examples --spans "$OUT/spans" --qa "$DATA/qa.jsonl" --split train --index "$OUT/index" --k 5 --max-sentences "$MAX_SENTENCES" --out "$OUT/retrieved/reading.jsonl"; }

common=(--model.tokenizer "$OUT/tokenizer" --seed_everything 0 --data.batch_size "$BATCH" --trainer.max_steps "$STEPS"
        --model.schedule linear --model.lr 2e-3 --trainer.val_check_interval "$STEPS" --data.val_max_examples 200
        --trainer.enable_model_summary false)
if [ ! -f "$OUT/closed_book/summary.json" ]; then
  step "closed-book finetune"
  $CBQA finetune --run_dir "$OUT/closed_book" "${common[@]}" \
    --data.tasks "[{\"name\": \"qa\", \"kind\": \"qa\", \"file\": \"$DATA/qa.jsonl\", \"split\": \"train\"}]" \
    --data.val_file "$DATA/qa.jsonl" --data.val_split dev
fi
if [ ! -f "$OUT/fid/summary.json" ]; then
  step "FiD reader finetune"
  $CBQA finetune --run_dir "$OUT/fid" "${common[@]}" --model.reader fid --data.passages "$PASSAGES" \
    --data.max_input_len "$MAX_INPUT_LEN" --data.val_file "$OUT/retrieved/dev.jsonl" \
    --data.tasks "[{\"name\": \"reading\", \"kind\": \"reading\", \"file\": \"$OUT/retrieved/reading.jsonl\"},
                   {\"name\": \"qa\", \"kind\": \"reader\", \"file\": \"$OUT/retrieved/train.jsonl\"}]"
  $CBQA reader record --run-dir "$OUT/fid" --reader fid --passages "$PASSAGES" --max-input-len "$MAX_INPUT_LEN"
fi
step predict
$CBQA predict --model "$OUT/closed_book" --questions "$OUT/retrieved/test.jsonl" --num-beams "$BEAMS" --out "$OUT/predictions/closed_book.jsonl"
$CBQA reader predict --model "$OUT/fid" --retrieved "$OUT/retrieved/test.jsonl" --num-beams "$BEAMS" --out "$OUT/predictions/retrieval_fid.jsonl"
$CBQA reader floor --retrieved "$OUT/retrieved/test.jsonl" --passages "$PASSAGES" --out "$OUT/predictions/extractive_floor.jsonl"
$CBQA evaluate --predictions "$OUT"/predictions/{closed_book,retrieval_fid,extractive_floor}.jsonl \
  --json "$OUT/results.json" --markdown "$OUT/results.md"
step done
