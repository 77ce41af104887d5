"""texts.json + embeddings.npy of every rated dialogue's utterance (measurement only, kept outside the repository),
for `bench/satisfaction_check.py --embeddings DIR` and intent_gate.sh: the encoder's pass over them, done once.

    OMP_NUM_THREADS=1 .venv/bin/python bench/research/issue14/sat_embed.py /tmp/s13/sat_emb   # 26,878 texts, ~15 min
"""
import json
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "bench")
import satisfaction_check as sc
from callradar.models import encoder as enc_mod
texts = sorted({c for name in ("ReDial", "CCPE") for d in sc.dialogues(sc.DEFAULT_DATA, name)
                for c in (u["text"] for u in sc.as_call(d, "x", name)["utterances"])})
print(len(texts), "texts", flush=True)
enc = enc_mod.load_encoder("all-MiniLM-L6-v2")
vec = enc.encode(texts, batch_size=64)
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
np.save(out / "embeddings.npy", vec.astype(np.float32)); (out / "texts.json").write_text(json.dumps(texts))
print("done", vec.shape)
