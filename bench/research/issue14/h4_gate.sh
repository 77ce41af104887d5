#!/usr/bin/env bash
# The gate for new text heads (issue 14 item 3), old heads vs new heads in one run; figures in docs/benchmarks.md
# ("Text heads across domains"). Run from the repository root. Writes only under $G (default /tmp/h4gate).
#   step 1: heads      train the new sentiment and intent heads (card: LODO, VADER sets, calm calls; old heads measured
#                      on the same rows), embeddings from the research's table where it has them (h4_run.py)
#   step 2: risk       callradar train risk on the corpus (as risk-20261203-0942 was made) with the new heads, and
#                      with the old heads (control: same corpus and code, today); the corpus's utterances embedded
#                      once first (h4_run.py embed-corpus) and read from the table by both
#   step 3: sat        bench/satisfaction_check.py on: shipped set, old heads + risk retrained today, new set
#   step mix           diagnosis: the old sentiment head with the new intent head, risk retrained, satisfaction check
#   step nopos         the new heads with the risk model retrained without cust_pos_mean (the corpus's positivity
#                      mean, which the new sentiment head made the fit lean on), then the satisfaction check
#   step avg           as nopos, with the average of the old and new sentiment heads (h4_average.py writes it to
#                      $G/avg-head/sentiment first)
set -euo pipefail
G=${G:-/tmp/h4gate}
PY=.venv/bin/python
TABLE=${TABLE:-/tmp/h4cache}
VADER=${VADER:-/tmp/exp14/data/vader_gt}
export OMP_NUM_THREADS=1 CALLRADAR_EMBEDDING_CACHE=${CALLRADAR_EMBEDDING_CACHE:-/tmp/h4cache/emb}
mkdir -p "$G"
step=${1:-all}
if [[ $step == heads || $step == all ]]; then
  mkdir -p "$G/new"
  nice -n 10 $PY bench/research/issue14/h4_run.py "$TABLE" sentiment --out "$G/new/sentiment" \
      --baseline models/artifacts/sentiment --max-train 16000 --measure-vader "$VADER" > "$G/sentiment.log" 2>&1 &
  p1=$!
  nice -n 10 $PY bench/research/issue14/h4_run.py "$TABLE" intent --out "$G/new/intent" \
      --baseline models/artifacts/intent --max-bitext 8000 --measure-vader "$VADER" > "$G/intent.log" 2>&1 &
  p2=$!
  wait $p1; wait $p2
fi
if [[ $step == risk || $step == all ]]; then
  # new heads: a registry root whose risk is the hand-set prior (it reads any heads) while training
  rm -rf "$G/new/risk" "$G/risk-new" && cp -r models/artifacts/risk-prior "$G/new/risk"
  CALLRADAR_MODELS_DIR="$G/new" nice -n 10 $PY bench/research/issue14/h4_run.py "$TABLE" cli train risk --no-register --text-part off \
      --out "$G/risk-new" > "$G/risk-new.log" 2>&1 &
  p1=$!
  # control: the old heads, risk retrained today on the same corpus with the same code
  mkdir -p "$G/old" && rm -rf "$G/old/"* "$G/risk-old"
  cp -r models/artifacts/sentiment models/artifacts/intent models/artifacts/risk "$G/old/"
  CALLRADAR_MODELS_DIR="$G/old" nice -n 10 $PY bench/research/issue14/h4_run.py "$TABLE" cli train risk --no-register --text-part off \
      --out "$G/risk-old" > "$G/risk-old.log" 2>&1 &
  p2=$!
  wait $p1; wait $p2
  rm -rf "$G/new/risk" && cp -r "$G/risk-new" "$G/new/risk"
  mkdir -p "$G/oldre" && rm -rf "$G/oldre/"* && cp -r models/artifacts/sentiment models/artifacts/intent "$G/oldre/"
  cp -r "$G/risk-old" "$G/oldre/risk"
fi
if [[ $step == sat || $step == all ]]; then
  nice -n 10 $PY bench/satisfaction_check.py --work "$G/sat-shipped" --embeddings "$TABLE/sat_emb" \
      --results "$G/sat-shipped.json" > "$G/sat-shipped.log" 2>&1 &
  p1=$!
  nice -n 10 $PY bench/satisfaction_check.py --work "$G/sat-new" --embeddings "$TABLE/sat_emb" --models "$G/new" \
      --results "$G/sat-new.json" > "$G/sat-new.log" 2>&1 &
  p2=$!
  wait $p1; wait $p2
  nice -n 10 $PY bench/satisfaction_check.py --work "$G/sat-oldre" --embeddings "$TABLE/sat_emb" --models "$G/oldre" \
      --results "$G/sat-oldre.json" > "$G/sat-oldre.log" 2>&1
fi
if [[ $step == mix ]]; then
  mkdir -p "$G/mix" && rm -rf "$G/mix/"* "$G/risk-mix"
  cp -r models/artifacts/sentiment "$G/mix/" && cp -r "$G/new/intent" "$G/mix/" && cp -r models/artifacts/risk-prior "$G/mix/risk"
  CALLRADAR_MODELS_DIR="$G/mix" nice -n 10 $PY bench/research/issue14/h4_run.py "$TABLE" cli train risk --no-register --text-part off \
      --out "$G/risk-mix" > "$G/risk-mix.log" 2>&1
  rm -rf "$G/mix/risk" && cp -r "$G/risk-mix" "$G/mix/risk"
  nice -n 10 $PY bench/satisfaction_check.py --work "$G/sat-mix" --embeddings "$TABLE/sat_emb" --models "$G/mix" \
      --results "$G/sat-mix.json" > "$G/sat-mix.log" 2>&1
fi
if [[ $step == nopos || $step == avg ]]; then
  # nopos: the new sentiment head; avg: the average of the old and new sentiment heads (h4_average.py, run first)
  if [[ $step == avg ]]; then SENT="$G/avg-head/sentiment"; else SENT="$G/new/sentiment"; fi
  EXCLUDE=$($PY -c 'from callradar.training.risk import DEFAULT_EXCLUDED as d; print(",".join((*d, "cust_pos_mean")))')
  mkdir -p "$G/$step" && rm -rf "$G/$step/"* "$G/risk-$step"
  cp -r "$SENT" "$G/new/intent" "$G/$step/" && cp -r models/artifacts/risk-prior "$G/$step/risk"
  CALLRADAR_MODELS_DIR="$G/$step" nice -n 10 $PY bench/research/issue14/h4_run.py "$TABLE" cli train risk --no-register \
      --text-part off --exclude "$EXCLUDE" --out "$G/risk-$step" > "$G/risk-$step.log" 2>&1
  rm -rf "$G/$step/risk" && cp -r "$G/risk-$step" "$G/$step/risk"
  nice -n 10 $PY bench/satisfaction_check.py --work "$G/sat-$step" --embeddings "$TABLE/sat_emb" --models "$G/$step" \
      --results "$G/sat-$step.json" > "$G/sat-$step.log" 2>&1
fi
