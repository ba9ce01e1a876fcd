#!/usr/bin/env bash
# General English: synthetic speech (the 50 pinned voices of asr.synthesis.tts, see
# install_voices.sh) + Kathleen + FSDD train + wake words, chosen on LibriSpeech
# test-other dev speakers, scored on VCTK p239 and the FSDD test split beside
# PocketSphinx. Run from the repository root:
#
#   recipes/english/run.sh                          # every stage
#   recipes/english/run.sh --stage 2 --stop-stage 2 # only train (resumes exp/english)
#
# Stages: 0 synthesize, 1 pseudo-label the untranscribed readers (needs the teacher
# extra: pip install -e '.[teacher]'; skipped when the labels exist) and prepare
# manifests, 2 train, 3 evaluate, 4 export (the checkpoint, plus its LM decoder
# settings tuned on the dev set beside it).
#
# Flags (defaults in brackets): --stage N [0]  --stop-stage N [4]
#   --shared DIR     shared data with speech/ and text/ [../shared/data]
#   --data DIR       synthesis (DIR/synth) and manifests [data/english]
#   --hours H        synthetic speech to make [32]    --seed S  seeds everything [0]
#   --jobs J         synthesis processes [nproc]      --exp DIR  training output [exp/english]
#   --epochs E [1]   --hidden-size H [256]  --num-layers L [3]  (BiGRU shape)
#   --time-strides "S S"  the two conv layers' time strides: "2 2" 40 ms per output
#                    frame, "2 1" 20 ms (twice the recurrent work) ["2 2"]
#   --real-repeat N  times each real training utterance (Kathleen, wake words, FSDD)
#                    is listed in train.jsonl: the real:synthetic ratio [1]
#   --kathleen-repeat N  the same for Kathleen alone [--real-repeat]
#   --pseudo-repeat N    the same for the pseudo-labelled readers [--real-repeat]
#   --pseudo PATH    the pseudo-labels [data/pseudo/librispeech_untranscribed.jsonl]
#   --speed-factors "F ..."  speed perturbation: one factor drawn per utterance [1.0]
#   --lr LR          peak learning rate (after 150 warm-up steps, then cosine) [2e-3]
#   --threads T      torch threads per process for train/evaluate [1]
#   --ranks R        training processes under torchrun, one per core or GPU [nproc]
#   --device D       cpu or cuda [cpu]      --precision P  fp32 or bf16 [fp32]
#   --init-from PT   start training from these weights (same shape, or narrower: widened) [none]
#   --batch-size B   utterances per batch per rank, at most 5*B padded seconds [16]
#   --workers W      DataLoader processes per rank reading audio [1; GPUs want more]
#   --dev-every N    score the dev set every N optimizer steps (dev_curve.csv) [250]
#   --keep-last N    keep the weights after each of the last N epochs (epoch-N.pt) [0]
#   --export-to PT   where stage 4 copies best.pt [data/models/english.pt]
# Every stage is resumable: synthesis skips finished files, training uses --resume.
set -euo pipefail

stage=0
stop_stage=4
shared=../shared/data          # speech/ and text/ of the shared data (see its README)
data=data/english              # synth/ and the manifests
hours=32                       # estimated from the text; measured audio came to 95.5 % of it
seed=0
jobs=$(nproc)
exp=exp/english
epochs=1                       # one pass over ~15 h fits ~1 h of one CPU core
hidden=256                     # BiGRU units per direction (chosen on dev against 320, see README)
layers=3
time_strides="2 2"
real_repeat=1                  # real training speech (3.4 h) is listed this many times
kathleen_repeat=""             # Kathleen alone, if not --real-repeat
pseudo_repeat=""               # the pseudo-labelled readers, if not --real-repeat
pseudo=data/pseudo/librispeech_untranscribed.jsonl  # asr pseudo-label writes it (stage 1)
speed_factors="1.0"            # speed perturbation factors ("0.9 1.0 1.1"); 1.0: off
lr=2e-3                        # peak learning rate; lower to fine-tune gently
threads=1                      # torch threads per process (train ranks, evaluate)
ranks=$(nproc)                 # training processes under torchrun: one per core trained
                               # fastest on CPU (docs/cpu.md); on GPUs: the GPU count
device=cpu                     # cpu, or cuda (each rank takes its own GPU)
precision=fp32                 # fp32; bf16 autocast on GPUs
init_from=""                   # start from these weights (same shape or narrower), e.g. an earlier model
dev_every=250                  # score the dev set every N optimizer steps (dev_curve.csv)
batch=16                       # utterances per batch per rank (2 CPU ranks: 32 per step)
workers=1                      # DataLoader processes per rank (one core each)
keep_last=0                    # epoch-N.pt for the last N epochs (for asr average)
export_to=data/models/english.pt  # data/models/default.pt is the shipped default
lm=data/models/english-3gram.arpa.gz

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --shared) shared=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --hours) hours=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --hidden-size) hidden=$2; shift 2 ;;
    --num-layers) layers=$2; shift 2 ;;
    --time-strides) time_strides=$2; shift 2 ;;
    --real-repeat) real_repeat=$2; shift 2 ;;
    --kathleen-repeat) kathleen_repeat=$2; shift 2 ;;
    --pseudo-repeat) pseudo_repeat=$2; shift 2 ;;
    --pseudo) pseudo=$2; shift 2 ;;
    --speed-factors) speed_factors=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --init-from) init_from=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --dev-every) dev_every=$2; shift 2 ;;
    --keep-last) keep_last=$2; shift 2 ;;
    --export-to) export_to=$2; shift 2 ;;
    -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown option $1" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python}
export PYTHONPATH=${PYTHONPATH:-$PWD}

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  # Test sentences (VCTK p239) and every Kathleen/CMU ARCTIC prompt are kept out of
  # the synthetic text. The voices: sudo recipes/english/install_voices.sh (once).
  $python recipes/english/synthesize.py --text-dir "$shared/text" \
    --out-dir $data/synth --hours "$hours" --seed "$seed" --jobs "$jobs" \
    --exclude "$shared/speech/vctk_p239/manifest.jsonl" \
    --exclude "$shared/speech/kathleen/manifest.jsonl" \
    --exclude "$shared/text/cmu_arctic_prompts.txt.gz"
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  # Whisper base labels the 241 untranscribed LibriSpeech readers; the shipped model
  # scores each label (student CTC loss per character) and the worst are dropped
  # (the filters' trade-offs: recipes/english/README.md). Resumes where it stopped.
  if [ ! -f "$pseudo" ]; then
    $python -m asr pseudo-label "$shared/speech/librispeech_untranscribed/manifest.jsonl" \
      -o "$pseudo" --teacher whisper-base --student data/models/default.pt \
      --max-student-ctc 3.0 --threads "$(nproc)"
  fi
  $python recipes/english/prepare.py --shared "$shared" \
    --synth-manifest $data/synth/manifest.jsonl --out-dir $data --pseudo-manifest "$pseudo" \
    --real-repeat "$real_repeat" ${kathleen_repeat:+--kathleen-repeat "$kathleen_repeat"} \
    ${pseudo_repeat:+--pseudo-repeat "$pseudo_repeat"}
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  # One process per core (torchrun, gloo), one thread each: the fastest setting on
  # CPU (docs/cpu.md); on GPUs one rank per GPU (--device cuda --precision bf16).
  launch=($python -m asr)
  if [ "$ranks" -gt 1 ]; then
    launch=($python -m torch.distributed.run --standalone --nproc-per-node "$ranks" -m asr)
  fi
  "${launch[@]}" train --train-manifest $data/train.jsonl --threads "$threads" \
    --device "$device" --precision "$precision" ${init_from:+--init-from "$init_from"} \
    --dev-manifest $data/dev.jsonl --out-dir "$exp" --epochs "$epochs" \
    --rnn-type gru --hidden-size "$hidden" --num-layers "$layers" --conv-channels 32 \
    --time-strides $time_strides --dropout 0.1 --batch-size "$batch" --max-batch-seconds $((5 * batch)) \
    --lr "$lr" --warmup-steps 150 --freq-masks 2 --freq-mask-width 8 --time-masks 2 \
    --time-mask-width 10 --noise-prob 0.2 --noise-snr-db 10 30 --num-workers "$workers" \
    --speed-factors $speed_factors \
    --dev-every-steps "$dev_every" --keep-last "$keep_last" --seed "$seed" --resume
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  $python recipes/english/evaluate.py --model "$exp/best.pt" --threads "$threads" \
    $data/test_librispeech_clean.jsonl $data/test_vctk_p239.jsonl $data/test_fsdd.jsonl \
    $data/test_speech_commands.jsonl --output "$exp/eval.json"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  # best.pt holds only weights and configs (no optimizer state): ship it as it is,
  # with beam size and LM weights tuned on the dev set (real speech; never a test
  # set). Speed budget: the search may take 0.025 CPU s per audio s (40x real time),
  # so with the acoustic model (~0.01) LM decoding stays above 25x on one core.
  mkdir -p "$(dirname "$export_to")"
  cp "$exp/best.pt" "$export_to"
  OMP_NUM_THREADS=$threads $python -m asr tune-decoder --model "$export_to" --lm "$lm" \
    --manifest $data/dev.jsonl --beam-sizes 50 100 200 --lm-weights 1 1.5 2 2.5 3 \
    --word-scores -1 0 1 2 --max-rtf 0.025 --output "${export_to%.pt}.decoder.json"
  ls -l "$export_to" "${export_to%.pt}.decoder.json"
fi
