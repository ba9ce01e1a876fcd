# Sourced by recipes/<dataset>/run.sh: option parsing and the stage switch.
#
# Every `--name value` pair on the command line sets the shell variable `name`
# (dashes become underscores), so `--stage 1 --stop-stage 2 --exp-dir exp/x` sets
# stage, stop_stage and exp_dir; a run.sh sets its defaults before sourcing this.
# Unknown names are an error, so a typo cannot silently fall back to a default.

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
      exit 0 ;;
    --*=*) name="${1%%=*}"; value="${1#*=}"; shift ;;
    --*)
      if [ $# -lt 2 ]; then echo "error: $1 needs a value" >&2; exit 2; fi
      name="$1"; value="$2"; shift 2 ;;
    *) echo "error: unexpected argument '$1' (see $0 --help)" >&2; exit 2 ;;
  esac
  var="$(echo "${name#--}" | tr - _)"
  if ! declare -p "$var" >/dev/null 2>&1; then
    echo "error: unknown option $name (see $0 --help)" >&2; exit 2
  fi
  printf -v "$var" '%s' "$value"
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
python="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}"  # the project venv when there is one

# run_stage N: true when stage N is within [stage, stop_stage]
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

# train_model FLAG...: `asr train` on $data_dir/{train,dev}.jsonl into $exp_dir with the
# recipe's $epochs, $batch_size, $num_workers and $device, resuming a stopped run; each
# recipe adds its own model and training flags.
train_model() {
  "$python" -m asr train \
    --train-manifest "$data_dir/train.jsonl" --dev-manifest "$data_dir/dev.jsonl" \
    --out-dir "$exp_dir" --epochs "$epochs" --batch-size "$batch_size" \
    --num-workers "$num_workers" --device "$device" --resume "$@"
}

# evaluate_sets MODEL RESULTS_DIR MANIFEST...: `asr evaluate` on each manifest, one
# JSON per manifest (scores and every hypothesis) and a one-line summary each.
evaluate_sets() {
  local model="$1" results="$2"; shift 2
  mkdir -p "$results"
  for manifest in "$@"; do
    local name
    name="$(basename "$(dirname "$manifest")")_$(basename "$manifest" .jsonl)"
    echo "== $name ($manifest)"
    "$python" -m asr evaluate "$manifest" --model "$model" --output "$results/$name.json" \
      | tee "$results/$name.txt"
  done
}

# export_model EXP_DIR NAME: copy best.pt (weights and configs, no optimizer state)
export_model() {
  local exp="$1" name="$2"
  mkdir -p "$(dirname "$name")"
  cp "$exp/best.pt" "$name"
  echo "exported $exp/best.pt -> $name"
}

# --- the four stages every recipe has ------------------------------------------------
recipe="$(basename "$(cd "$(dirname "$0")" && pwd)")"   # recipes/<recipe>/run.sh

# prepare_data: stage 0, recipes/$recipe/prepare.py into $data_dir from $source (an
# empty $source downloads). A run.sh that prepares otherwise redefines it.
prepare_data() {
  "$python" "recipes/$recipe/prepare.py" --out-dir "$data_dir" ${source:+--source "$source"}
}

# train_stage: stage 1, train_model with the recipe's size flags. A run.sh that trains
# with more flags redefines it.
train_stage() {
  train_model --max-batch-seconds "$max_batch_seconds" --hidden-size "$hidden_size" \
    --num-layers "$num_layers"
}

# run_recipe TEST_MANIFEST...: the stages within [stage, stop_stage]: 0 prepare_data,
# 1 train_stage, 2 evaluate best.pt on each manifest, 3 export to $export_to (default
# $exp_dir/$recipe.pt).
run_recipe() {
  if run_stage 0; then
    echo "stage 0: prepare"
    prepare_data
  fi
  if run_stage 1; then
    echo "stage 1: train"
    train_stage
  fi
  if run_stage 2; then
    echo "stage 2: evaluate $exp_dir/best.pt"
    evaluate_sets "$exp_dir/best.pt" "$exp_dir/results" "$@"
  fi
  if run_stage 3; then
    echo "stage 3: export"
    export_model "$exp_dir" "${export_to:-$exp_dir/$recipe.pt}"
  fi
}
