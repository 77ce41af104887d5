#!/usr/bin/env bash
# session 12: the gate for a sentiment head with negations learnt. $1 names a folder $G/$1/sentiment (a candidate
# head); the risk model is retrained on its readings as the shipped one was (DEFAULT_EXCLUDED + cust_pos_mean, the
# shipped intent head), then the satisfaction check. Candidates can run side by side.
# Step 1 (the heads; docs/benchmarks.md, "Negations in the sentiment head"):
#   OMP_NUM_THREADS=2 CALLRADAR_EMBEDDING_CACHE=/tmp/h4cache/emb .venv/bin/python bench/research/issue14/sent_negation.py \
#       /tmp/h4cache sentiment --out $G/mlp/sentiment --baseline models/artifacts/sentiment --max-train 16000 \
#       --measure-vader /tmp/exp14/data/vader_gt
#   .venv/bin/python bench/research/issue14/h4_average.py --old /tmp/h4gate/mix/sentiment --new $G/mlp/sentiment \
#       --out $G/avg/sentiment --vader /tmp/exp14/data/vader_gt
# Step 2: this script with mlp and with avg.
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
G=${G:-/tmp/s12/g}; PY=.venv/bin/python; export OMP_NUM_THREADS=1
EXCLUDE=$($PY -c 'from callradar.training.risk import DEFAULT_EXCLUDED as d; print(",".join((*d, "cust_pos_mean")))')
D=$G/set-$1; rm -rf $D $G/risk-$1; mkdir -p $D
cp -r $G/$1/sentiment $D/ && cp -r models/artifacts/intent $D/ && cp -r models/artifacts/risk-prior $D/risk
CALLRADAR_MODELS_DIR=$D nice -n 5 $PY bench/research/issue14/h4_run.py /tmp/h4cache cli train risk --no-register --text-part off --exclude "$EXCLUDE" --out $G/risk-$1 > $G/risk-$1.log 2>&1
rm -rf $D/risk && cp -r $G/risk-$1 $D/risk
nice -n 5 $PY bench/satisfaction_check.py --work $G/sat-$1 --embeddings /tmp/h4cache/sat_emb --models $D --results $G/sat-$1.json > $G/sat-$1.log 2>&1
echo done
