#!/usr/bin/env bash
# TED-LIUM release 3 (452 h of TED talks, legacy split): prepare, train, evaluate, export. Run from the repository root.
#
#   recipes/tedlium/run.sh                           # downloads when absent
#   recipes/tedlium/run.sh --stage 2 --stop-stage 2 --exp-dir exp/tedlium
#
# Stages: 0 prepare, 1 train, 2 evaluate (legacy test), 3 export.
# Every variable set below is an option, e.g. --data-dir, --exp-dir, --epochs,
# --hidden-size, --device (sized for one GPU).
set -euo pipefail

stage=0
stop_stage=3
source=""                                      # TEDLIUM_release-3 folder; "" downloads
data_dir=data/tedlium
exp_dir=exp/tedlium
epochs=30
hidden_size=512
num_layers=4
batch_size=64
max_batch_seconds=1200
num_workers=4
device=cuda
export_to=""                                   # default: $exp_dir/tedlium.pt

. "$(dirname "$0")/../stages.sh"

run_recipe "$data_dir/test.jsonl"
