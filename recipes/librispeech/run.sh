#!/usr/bin/env bash
# LibriSpeech (960 h of read audiobooks): prepare, train, evaluate, export. Run from the repository root.
#
#   recipes/librispeech/run.sh                       # all 960 h, downloads when absent
#   recipes/librispeech/run.sh --source /data --train-subsets train-clean-100
#   recipes/librispeech/run.sh --stage 2 --stop-stage 2 --exp-dir exp/librispeech
#
# Stages: 0 prepare, 1 train, 2 evaluate (test-clean, test-other), 3 export.
# Every variable set below is an option, e.g. --data-dir, --exp-dir, --epochs,
# --hidden-size, --device (sized for one GPU).
set -euo pipefail

stage=0
stop_stage=3
source=""                                      # folder holding LibriSpeech/; "" downloads
train_subsets="train-clean-100 train-clean-360 train-other-500"
data_dir=data/librispeech
exp_dir=exp/librispeech
epochs=30
hidden_size=512
num_layers=4
batch_size=64
max_batch_seconds=1200
num_workers=4
device=cuda
export_to=""                                   # default: $exp_dir/librispeech.pt

. "$(dirname "$0")/../stages.sh"

prepare_data() {  # the usual command, plus the training subsets to use
  "$python" recipes/librispeech/prepare.py --out-dir "$data_dir" ${source:+--source "$source"} \
    --train-subsets $train_subsets
}

run_recipe "$data_dir/test-clean.jsonl" "$data_dir/test-other.jsonl"
