#!/usr/bin/env bash
# Common Voice English (a downloaded release): prepare, train, evaluate, export. Run from the repository root.
#
#   recipes/commonvoice/run.sh --source /data/cv-corpus-17.0-2024-03-15/en
#   recipes/commonvoice/run.sh --stage 2 --stop-stage 2 --exp-dir exp/commonvoice
#
# Stages: 0 prepare, 1 train, 2 evaluate (the release's test.tsv), 3 export.
# Every variable set below is an option, e.g. --data-dir, --exp-dir, --epochs,
# --hidden-size, --device (sized for one GPU).
set -euo pipefail

stage=0
stop_stage=3
source=""                                      # the release's en/ folder (required)
data_dir=data/commonvoice
exp_dir=exp/commonvoice
epochs=30
hidden_size=512
num_layers=4
batch_size=64
max_batch_seconds=1200
num_workers=4
device=cuda
export_to=""                                   # default: $exp_dir/commonvoice.pt

. "$(dirname "$0")/../stages.sh"

prepare_data() {  # Common Voice cannot be downloaded here: --source is required
  "$python" recipes/commonvoice/prepare.py --out-dir "$data_dir" --source "$source"
}

run_recipe "$data_dir/test.jsonl"
