#!/usr/bin/env bash
# session 13: the intent gate without an embedding table (h4_negated.sh needs one): the risk model retrained as the
# shipped one was (DEFAULT_EXCLUDED + cust_pos_mean) with $1's heads (cand: $G/set/intent; ctrl: the bundled ones),
# then bench/satisfaction_check.py on that set. SAT_EMB: texts.json + embeddings.npy of the rated dialogues' utterances.
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
G=${G:-/tmp/s13/int}; PY=.venv/bin/python; export OMP_NUM_THREADS=1
EXCLUDE=$($PY -c 'from callradar.training.risk import DEFAULT_EXCLUDED as d; print(",".join((*d, "cust_pos_mean")))')
D=$G/set2-$1; rm -rf $D $G/risk2-$1; mkdir -p $D
cp -r models/artifacts/sentiment $D/
if [[ $1 == cand ]]; then cp -r $G/set/intent $D/; else cp -r models/artifacts/intent $D/; fi
cp -r models/artifacts/risk-prior $D/risk
CALLRADAR_STATE_DIR=$G/state-$1 CALLRADAR_MODELS_DIR=$D nice -n 5 .venv/bin/callradar train risk --no-register --text-part off --exclude "$EXCLUDE" --data .callradar/corpus/train.parquet --out $G/risk2-$1 > $G/risk2-$1.log 2>&1
rm -rf $D/risk && cp -r $G/risk2-$1 $D/risk
while [[ ! -s ${SAT_EMB:-/tmp/s13/sat_emb}/texts.json ]]; do sleep 10; done
nice -n 5 $PY bench/satisfaction_check.py --work $G/sat2-$1 --embeddings ${SAT_EMB:-/tmp/s13/sat_emb} --models $D --results $G/sat2-$1.json > $G/sat2-$1.log 2>&1
echo done
