"""Share of scored utterances with risk in [0.4, 0.6), where the trigger stage warms the assist prompt.

On 120 of the corpus's held-out calls; run once with the bundled models and once with
CALLRADAR_MODELS_DIR=<the set before> (docs/benchmarks.md, "The sentiment head too").
"""

import os

from callradar.pipeline.records import Utterance
from callradar.pipeline.settings import load_settings
from callradar.pipeline.stages.score import ScoreProcessor
from callradar.training.labelled_calls import read_calls

calls = read_calls(".callradar/corpus/test.parquet")[:120]
proc = ScoreProcessor.from_settings(load_settings(), watch=False)
n = mid = high = 0
for c in calls:
    utts = [Utterance(utterance_id=f"{c.call_id}/{i}", call_id=c.call_id, speaker=u.speaker, index=i, start=u.start,
                      end=u.end, audio_end_ts=0.0, text=u.text,
                      confidence=u.confidence if u.confidence is not None else 0.9)
            for i, u in enumerate(c.utterances)]
    for s in proc.score(utts, now=0.0):
        n += 1
        mid += 0.4 <= s.risk < 0.6
        high += s.risk >= 0.6
print(os.environ.get("CALLRADAR_MODELS_DIR", "bundled"), proc.model_version,
      f"utterances {n}: risk in [0.4, 0.6) {mid / n:.3f}, at or above 0.6 {high / n:.3f}")
