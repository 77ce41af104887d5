"""``callradar simulate``: scripted calm and escalating two-channel calls with labels."""

from __future__ import annotations

from pathlib import Path

from callradar.pipeline.simulator.calls import KINDS, simulate_calls


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="synthesize scripted calm and escalating two-channel calls with labels",
        description="Synthesize scripted contact-centre calls (stereo 8 kHz WAV, agent left, "
        "customer right) with a label JSON each and a manifest.json. Deterministic for a seed; "
        "calls already in DIR from the same seed and scripts are reused.",
    )
    p.add_argument("--out", metavar="DIR", type=Path, default=None, help="output folder (default: <state dir>/sample-calls)")
    p.add_argument("--calls", metavar="N", type=int, default=4, help="number of calls (default 4)")
    p.add_argument("--seed", metavar="S", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--kind", choices=KINDS, default="mixed", help="mixed alternates calm and escalating")
    p.add_argument("--force", action="store_true", help="re-synthesize even calls that could be reused")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import time

    out = args.out
    if out is None:
        from callradar.pipeline.settings import load_settings

        out = load_settings().state_dir / "sample-calls"  # where the demo keeps its calls too
    t0 = time.monotonic()
    labels = simulate_calls(
        out, args.calls, args.seed, args.kind, force=args.force, progress=lambda line: print(line, flush=True)
    )
    print(f"{len(labels)} calls in {out} ({time.monotonic() - t0:.1f} s); list: {out / 'manifest.json'}")
    return 0
