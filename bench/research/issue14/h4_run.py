"""Run a callradar training command with the encoder's forward pass read from a text -> embedding table first.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/research/issue14/h4_run.py TABLE_DIR sentiment|intent ARGS...
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/research/issue14/h4_run.py TABLE_DIR cli train risk ARGS...

Speed only (2 shared cores): TABLE_DIR holds pairs NAME_texts.json + NAME_emb.npy of all-MiniLM-L6-v2 embeddings:
the ones the issue-14 research computed for its sources (GoEmotions, Bitext and VADER-set rows), and the corpus's
utterances (`h4_run.py TABLE_DIR embed-corpus`), so old and new heads share one forward pass. Before anything
runs, 48 table texts are encoded for real and must match (max difference <= 1e-4); texts not in the table are
encoded for real. Everything after the encoder is the command's own code, so its output is what the plain
command (`callradar train sentiment|intent ARGS`) writes, to float rounding.
"""
import importlib
import json
import random
import sys
from pathlib import Path

import numpy as np

from callradar.models import encoder as enc_mod

table_dir, command, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
table = {}
for path in sorted(table_dir.glob("*_texts.json")):
    emb = np.load(path.with_name(path.name.replace("_texts.json", "_emb.npy")), allow_pickle=False)
    table.update(zip(json.loads(path.read_text()), emb))
texts = sorted(table)
real = enc_mod.TextEncoder.encode
checked = {"done": False}


def encode(self, batch, batch_size=64, progress=None):
    if not checked["done"]:
        sample = random.Random(1).sample(texts, 48)
        diff = float(np.abs(real(self, sample) - np.stack([table[t] for t in sample])).max())
        if diff > 1e-4:
            raise SystemExit(f"the table's embeddings are not this encoder's (max difference {diff:.5f})")
        print(f"embedding table checked on 48 texts: max difference {diff:.2e}", file=sys.stderr)
        checked["done"] = True
    todo = list(dict.fromkeys(t for t in batch if t not in table))
    if todo:
        print(f"encoding {len(todo)} of {len(batch)} texts for real", file=sys.stderr, flush=True)
        table.update(zip(todo, real(self, todo, batch_size=batch_size)))
    if progress is not None:
        progress(len(batch))
    return np.stack([table[t] for t in batch]).astype(np.float32) if batch else real(self, batch)


if command == "embed-corpus":  # the corpus's utterances, once, into the table
    from callradar.training.labelled_calls import read_calls

    corpus = sorted({u.text for f in ("train", "test") for c in read_calls(f".callradar/corpus/{f}.parquet")
                     for u in c.utterances} - set(table))
    enc = enc_mod.load_encoder("all-MiniLM-L6-v2")
    vectors = enc.encode(corpus, batch_size=64)
    np.save(table_dir / "corpus_emb.npy", vectors.astype(np.float32))
    (table_dir / "corpus_texts.json").write_text(json.dumps(corpus))
    print(f"{len(corpus)} corpus texts embedded", file=sys.stderr)
    sys.exit(0)
enc_mod.TextEncoder.encode = encode
if command == "cli":
    from callradar.pipeline.cli.main import main

    sys.exit(main(args))
sys.exit(importlib.import_module(f"callradar.training.{command}").main(args))
