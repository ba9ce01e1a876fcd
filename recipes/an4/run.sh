#!/usr/bin/env bash
# CMU AN4 (alphanumeric census utterances, 50 min): prepare, train, evaluate, export. Run from the repository root.
#
#   recipes/an4/run.sh                               # downloads when absent (64 MB)
#   recipes/an4/run.sh --stage 2 --stop-stage 2 --exp-dir exp/an4
#
# Stages: 0 prepare, 1 train, 2 evaluate (the official AN4 test set), 3 export.
# Every variable set below is an option, e.g. --data-dir, --exp-dir, --epochs,
# --hidden-size, --device (small enough for a CPU).
set -euo pipefail

stage=0
stop_stage=3
source=""                                      # folder holding an4/; "" downloads
data_dir=data/an4
exp_dir=exp/an4
epochs=40
hidden_size=256
num_layers=3
batch_size=32
max_batch_seconds=200
num_workers=1
device=cpu
export_to=""                                   # default: $exp_dir/an4.pt

. "$(dirname "$0")/../stages.sh"

run_recipe "$data_dir/test.jsonl"
