#!/usr/bin/env bash
# Kathleen (one speaker, 1.4 h): prepare, train, evaluate, export.
#
#   recipes/kathleen/run.sh                       # all stages
#   recipes/kathleen/run.sh --stage 2 --stop-stage 2 --exp-dir exp/kathleen
#
# Stages: 0 prepare (manifests split by prompt; also VCTK p239 as a test set),
# 1 train, 2 evaluate (dev, held-out Kathleen test, VCTK p239), 3 export.
# Every variable set below is an option: --stage --stop-stage --source --p239-source
# --data-dir --p239-dir --exp-dir --epochs --rnn-type --hidden-size --num-layers
# --conv-channels --time-strides "2 2" --batch-size --lr --warmup-steps
# --num-workers --device --export-to. The defaults trained in 32 minutes on two
# busy CPU cores (with OMP_NUM_THREADS=1); see README.md for the figures.
set -euo pipefail

stage=0
stop_stage=3
source=../shared/data/speech/kathleen          # local copy; "" downloads from GitHub
p239_source=../shared/data/speech/vctk_p239    # local copy of VCTK p239
data_dir=data/kathleen
p239_dir=data/vctk_p239
exp_dir=exp/kathleen
epochs=8
rnn_type=gru
hidden_size=160
num_layers=2
conv_channels=16
time_strides="2 2"                             # 4x fewer frames for the RNN
batch_size=16
lr=3e-3
warmup_steps=150
num_workers=1
device=cpu
export_to=""                                   # default: $exp_dir/kathleen.pt

. "$(dirname "$0")/../stages.sh"

prepare_data() {  # Kathleen, and VCTK p239 as the unseen-speaker test
  "$python" recipes/kathleen/prepare.py --out-dir "$data_dir" ${source:+--source "$source"}
  "$python" recipes/vctk_p239/prepare.py --out-dir "$p239_dir" ${p239_source:+--source "$p239_source"}
}

train_stage() {  # a small BiGRU: its shape and schedule are this recipe's options
  train_model --rnn-type "$rnn_type" --hidden-size "$hidden_size" \
    --num-layers "$num_layers" --conv-channels "$conv_channels" \
    --time-strides $time_strides --lr "$lr" --warmup-steps "$warmup_steps"
}

run_recipe "$data_dir/dev.jsonl" "$data_dir/test.jsonl" "$p239_dir/test.jsonl"
