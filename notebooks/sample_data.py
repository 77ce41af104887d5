"""Which labelled calls the notebooks read, so they run anywhere, on real data or small sample data.

In order:

1. ``CALLRADAR_NOTEBOOK_DATA``: your own labelled calls (a .parquet or .jsonl file,
   an archive folder, or a folder with ``train.parquet`` and ``test.parquet`` as
   ``callradar corpus build`` writes). A single file or archive is split by call.
2. The Bitext data in ../shared/data: a small semi-synthetic corpus built with
   ``callradar.training.corpus.build_corpus`` (``CALLRADAR_NOTEBOOK_CALLS`` calls, default 48).
3. Neither (or ``CALLRADAR_NOTEBOOK_SAMPLE=scripts``): calls made from the simulator's
   call scripts (pipeline/simulator/call_scripts.yaml), text only, timed from speaking rates.
   Few distinct conversations: enough to run the notebooks, not to judge a model.
"""

from __future__ import annotations

import os
import random
import zlib
from dataclasses import dataclass
from pathlib import Path


@dataclass
class NotebookData:
    train: Path
    test: Path | None  # None: split ``train`` yourself
    description: str


def notebook_data(workdir: Path, n_calls: int | None = None, seed: int = 0) -> NotebookData:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    n_calls = n_calls or int(os.environ.get("CALLRADAR_NOTEBOOK_CALLS", "48"))
    given = os.environ.get("CALLRADAR_NOTEBOOK_DATA")
    if given:
        return _given(Path(given), workdir)
    from callradar.training.data import bitext_file, default_data_dir

    bitext = bitext_file(default_data_dir())
    if bitext.exists() and os.environ.get("CALLRADAR_NOTEBOOK_SAMPLE", "auto") != "scripts":
        return _bitext_corpus(workdir / f"corpus-{n_calls}-{seed}", n_calls, seed, bitext)
    return _script_calls(workdir / f"script-calls-{seed}", seed)


def _given(path: Path, workdir: Path) -> NotebookData:
    if (path / "train.parquet").exists():
        test = path / "test.parquet"
        return NotebookData(path / "train.parquet", test if test.exists() else None, f"corpus in {path}")
    from callradar.training.labelled_calls import read_calls, write_calls

    calls = read_calls(path, labelled_only=True)
    test_share = 0.25
    is_test = [zlib.crc32(c.call_id.encode()) % 1000 < test_share * 1000 for c in calls]
    out = workdir / "given-split"
    out.mkdir(exist_ok=True)
    write_calls(out / "train.parquet", [c for c, t in zip(calls, is_test) if not t])
    write_calls(out / "test.parquet", [c for c, t in zip(calls, is_test) if t])
    return NotebookData(out / "train.parquet", out / "test.parquet",
                        f"{len(calls)} labelled calls from {path}, split 75/25 by a hash of the call id")


def _bitext_corpus(out: Path, n_calls: int, seed: int, bitext: Path) -> NotebookData:
    from callradar.pipeline.settings import load_settings
    from callradar.training.corpus import build_corpus, load_intent_card

    if not (out / "test.parquet").exists():
        build_corpus(out, n_calls, seed, bitext_path=bitext, intent_card=load_intent_card(load_settings()))
    return NotebookData(out / "train.parquet", out / "test.parquet",
                        f"small semi-synthetic corpus: {n_calls} calls assembled from real Bitext customer "
                        f"utterances (callradar.training.corpus, seed {seed}), in {out}")


def _script_calls(out: Path, seed: int, variants: int = 5) -> NotebookData:
    """Each call script ``variants`` times with different timing; one calm and one escalating script held out."""
    from callradar.pipeline.simulator.calls import OUTCOMES, load_scripts
    from callradar.training.labelled_calls import CallUtterance, LabelledCall, write_calls

    book = load_scripts()
    held_out = {book.of_kind("calm")[0].name, book.of_kind("escalating")[0].name}
    train, test = [], []
    for script in book.scripts:
        for v in range(variants):
            rng = random.Random(f"notebook/{seed}/{script.name}/{v}")
            t, utterances, escalation_time = rng.uniform(0.3, 1.0), [], None
            for turn in script.turns:
                words_per_s = rng.uniform(2.3, 2.9) * (1 + 0.05 * turn.frustration)
                end = t + len(turn.text.split()) / words_per_s
                if turn.escalation_request:
                    escalation_time = round(t, 2)
                utterances.append(CallUtterance(turn.speaker, round(t, 2), round(end, 2), turn.text))
                t = end + rng.triangular(0.1, 1.5, 0.4) / (1 + turn.frustration)
            call = LabelledCall(f"script-{script.name}-{v}", OUTCOMES[script.kind], utterances, escalation_time,
                                metadata={"script": script.name}, source="call-scripts")
            (test if script.name in held_out else train).append(call)
    out.mkdir(parents=True, exist_ok=True)
    write_calls(out / "train.jsonl", train)
    write_calls(out / "test.jsonl", test)
    return NotebookData(out / "train.jsonl", out / "test.jsonl",
                        f"{len(train) + len(test)} calls from the simulator's {len(book.scripts)} call scripts "
                        f"(text only; held out: {', '.join(sorted(held_out))}); set CALLRADAR_NOTEBOOK_DATA for real data")
