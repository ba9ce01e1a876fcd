#!/usr/bin/env bash
# Grammar-constrained recognition on real speech: the base model, models adapted
# with `asr adapt`, and PocketSphinx, each with the same grammar (README.md here).
#   recipes/commands/run.sh [--shared ../shared/data]
set -euo pipefail
SHARED=../shared/data
PYTHON=${PYTHON:-python}
while [[ $# -gt 0 ]]; do
    case $1 in
        --shared) SHARED=$2; shift 2 ;;
        -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown option $1" >&2; exit 2 ;;
    esac
done
TEXT=$SHARED/text/cmu_arctic_prompts.txt.gz  # more text: LM mixing and other takes

$PYTHON recipes/commands/prepare.py --shared "$SHARED" --out data/commands
$PYTHON recipes/commands/tune_unk.py --model data/models/default.pt --data data/commands
for grammar in commands digits home; do
    ext=jsgf; [[ $grammar == home ]] && ext=ini
    $PYTHON -m asr adapt --grammar recipes/commands/$grammar.$ext --text "$TEXT" \
        --base data/models/default.pt --out exp/commands/$grammar
done
$PYTHON recipes/commands/evaluate.py --data data/commands \
    --system base=data/models/default.pt \
    --system adapted=exp/commands/commands,exp/commands/digits \
    --system pocketsphinx --output exp/commands/eval.json \
    --diagram exp/commands/reliability_real.png
# the adapted models with a penalty chosen for each on the same train/dev data
penalty() {  # the penalty tune_unk.py chooses for model $1 (its table goes to stderr)
    local table
    table=$($PYTHON recipes/commands/tune_unk.py --model "$1" --data data/commands)
    printf '%s\n' "$table" >&2
    sed -n 's/^chosen: penalty \([0-9.]*\) nats.*/\1/p' <<< "$table"
}
p_commands=$(penalty exp/commands/commands)
p_digits=$(penalty exp/commands/digits)
$PYTHON recipes/commands/evaluate.py --data data/commands \
    --system "adapted-tuned=exp/commands/commands,exp/commands/digits@$p_commands,$p_digits" \
    --output exp/commands/eval_tuned.json
