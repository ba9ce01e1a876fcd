#!/usr/bin/env bash
# LJ Speech 1.1 (one speaker, 24 h): prepare, train, evaluate, export. Run from the repository root.
#
#   recipes/ljspeech/run.sh                          # downloads when absent
#   recipes/ljspeech/run.sh --stage 2 --stop-stage 2 --exp-dir exp/ljspeech
#
# Stages: 0 prepare, 1 train, 2 evaluate (held-out clips), 3 export.
# Every variable set below is an option, e.g. --data-dir, --exp-dir, --epochs,
# --hidden-size, --device (sized for one GPU).
set -euo pipefail

stage=0
stop_stage=3
source=""                                      # LJSpeech-1.1 folder; "" downloads
data_dir=data/ljspeech
exp_dir=exp/ljspeech
epochs=30
hidden_size=384
num_layers=3
batch_size=64
max_batch_seconds=1200
num_workers=4
device=cuda
export_to=""                                   # default: $exp_dir/ljspeech.pt

. "$(dirname "$0")/../stages.sh"

run_recipe "$data_dir/test.jsonl"
