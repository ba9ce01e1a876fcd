#!/usr/bin/env bash
# VCTK speaker p239 as a test set only (no training): prepare, then score a model.
# Run from the repository root.
#
#   recipes/vctk_p239/run.sh --model exp/kathleen/best.pt
#   recipes/vctk_p239/run.sh --source /data/VCTK-Corpus-0.92 --model model.pt
#
# Stages: 0 prepare (data/vctk_p239/test.jsonl), 2 evaluate --model.
# Every variable set below is an option: --stage --stop-stage --source --data-dir
# --model --results-dir.
set -euo pipefail

stage=0
stop_stage=2
source=../shared/data/speech/vctk_p239        # repack or VCTK folder; "" downloads VCTK
data_dir=data/vctk_p239
model=""                                       # checkpoint to score in stage 2
results_dir=exp/vctk_p239

. "$(dirname "$0")/../stages.sh"

if run_stage 0; then
  echo "stage 0: prepare"
  "$python" recipes/vctk_p239/prepare.py --out-dir "$data_dir" ${source:+--source "$source"}
fi

if run_stage 2; then
  if [ -z "$model" ]; then echo "error: stage 2 needs --model CHECKPOINT" >&2; exit 2; fi
  echo "stage 2: evaluate $model"
  evaluate_sets "$model" "$results_dir" "$data_dir/test.jsonl"
fi
