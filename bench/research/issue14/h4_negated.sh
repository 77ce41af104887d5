#!/usr/bin/env bash
# session 11: risk retrained as the shipped one was (DEFAULT_EXCLUDED + cust_pos_mean), for $1 (cand: candidate intent head; ctrl: shipped heads), then the satisfaction check
# Step 1 (the candidate head, the call-style set with its negated_request rows):
#   OMP_NUM_THREADS=1 CALLRADAR_EMBEDDING_CACHE=/tmp/h4cache/emb .venv/bin/python bench/research/issue14/h4_run.py /tmp/h4cache \
#       intent --out $G/set/intent --baseline models/artifacts/intent --max-bitext 8000 --measure-vader /tmp/exp14/data/vader_gt
# Step 2: this script with cand and with ctrl (they can run side by side).
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
# ctrl copies models/artifacts/intent: run it before the candidate is installed there, as session 11 did
G=${G:-/tmp/s11/neg}; PY=.venv/bin/python; export OMP_NUM_THREADS=1
EXCLUDE=$($PY -c 'from callradar.training.risk import DEFAULT_EXCLUDED as d; print(",".join((*d, "cust_pos_mean")))')
D=$G/set2-$1; rm -rf $D $G/risk2-$1; mkdir -p $D
cp -r models/artifacts/sentiment $D/
if [[ $1 == cand ]]; then cp -r $G/set/intent $D/; else cp -r models/artifacts/intent $D/; fi
cp -r models/artifacts/risk-prior $D/risk
CALLRADAR_MODELS_DIR=$D nice -n 5 $PY bench/research/issue14/h4_run.py /tmp/h4cache cli train risk --no-register --text-part off --exclude "$EXCLUDE" --out $G/risk2-$1 > $G/risk2-$1.log 2>&1
rm -rf $D/risk && cp -r $G/risk2-$1 $D/risk
nice -n 5 $PY bench/satisfaction_check.py --work $G/sat2-$1 --embeddings /tmp/h4cache/sat_emb --models $D --results $G/sat2-$1.json > $G/sat2-$1.log 2>&1
echo done
