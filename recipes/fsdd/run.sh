#!/usr/bin/env bash
# Free Spoken Digit Dataset (six speakers, digits): prepare, train, evaluate, export. Run from the repository root.
#
#   recipes/fsdd/run.sh --source ../shared/data/speech/fsdd
#   recipes/fsdd/run.sh --stage 2 --stop-stage 2 --exp-dir exp/fsdd
#
# Stages: 0 prepare, 1 train, 2 evaluate (the official test takes 0-4), 3 export.
# Every variable set below is an option, e.g. --data-dir, --exp-dir, --epochs,
# --hidden-size, --device (small enough for a CPU).
set -euo pipefail

stage=0
stop_stage=3
source=../shared/data/speech/fsdd             # local copy; "" downloads from GitHub
data_dir=data/fsdd
exp_dir=exp/fsdd
epochs=40
hidden_size=128
num_layers=2
dropout=0.2
warmup_steps=200
batch_size=32
max_batch_seconds=200
num_workers=1
device=cpu
export_to=""                                   # default: $exp_dir/fsdd.pt

. "$(dirname "$0")/../stages.sh"

train_stage() {  # the size flags, plus regularisation and augmentation
  train_model --max-batch-seconds "$max_batch_seconds" --hidden-size "$hidden_size" \
    --num-layers "$num_layers" --dropout "$dropout" --warmup-steps "$warmup_steps" \
    --speed-factors 0.9 1.0 1.1 --noise-prob 0.3 --noise-snr-db 10 30 --freq-masks 2 \
    --freq-mask-width 6 --time-masks 2 --time-mask-width 8
}

run_recipe "$data_dir/test.jsonl"
