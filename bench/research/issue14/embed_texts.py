"""Embed every text source once (all-MiniLM-L6-v2 via the project's encoder); cache as .npy per source."""
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch

torch.set_num_threads(1)
from pathlib import Path

from callradar.models.encoder import load_encoder

sys.path.insert(0, "/tmp/exp14")
from sources import load_sources

enc = load_encoder("all-MiniLM-L6-v2")
C = Path("/tmp/exp14/cache")
for name, df in load_sources().items():
    p = C / f"emb_{name}.npy"
    if p.exists():
        continue
    t0 = time.time()
    e = enc.encode(list(df["text"]), batch_size=128)
    np.save(p, e.astype(np.float32))
    print(name, len(df), f"{time.time()-t0:.0f}s", flush=True)
