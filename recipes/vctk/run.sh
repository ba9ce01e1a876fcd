#!/usr/bin/env bash
# VCTK 0.92 (110 speakers, 44 h; split by speaker): prepare, train, evaluate, export. Run from the repository root.
#
#   recipes/vctk/run.sh                              # downloads when absent
#   recipes/vctk/run.sh --stage 2 --stop-stage 2 --exp-dir exp/vctk
#
# Stages: 0 prepare, 1 train, 2 evaluate (held-out speakers, p239 among them), 3 export.
# Every variable set below is an option, e.g. --data-dir, --exp-dir, --epochs,
# --hidden-size, --device (sized for one GPU).
set -euo pipefail

stage=0
stop_stage=3
source=""                                      # VCTK-Corpus-0.92 folder; "" downloads
data_dir=data/vctk
exp_dir=exp/vctk
epochs=30
hidden_size=384
num_layers=3
batch_size=64
max_batch_seconds=1200
num_workers=4
device=cuda
export_to=""                                   # default: $exp_dir/vctk.pt

. "$(dirname "$0")/../stages.sh"

run_recipe "$data_dir/test.jsonl"
