"""A semi-synthetic labelled-call corpus for the risk model: ``callradar corpus build``.

No public data set has contact-centre calls with escalation outcomes, so this
assembles them, with known outcomes and escalation times, from two sources:

1. **Bitext calls**: customer turns are REAL Bitext customer-support utterances
   (../shared/data/intents/bitext); agent turns and short connecting customer
   turns ("Sure, it's 4521...") come from the small template set in
   corpus_templates.yaml. Calm calls are ordinary requests, resolved. In
   escalating calls frustration builds over 0-3 customer turns (the request
   restated, often in Bitext's offensive-register variant; Bitext complaints)
   until the customer asks for a human (``contact_human_agent``) or to close the
   account (``delete_account``); the escalation time is the start of that turn.
   Calm calls also carry the hard cases: venting that gets resolved, complaints
   that get logged, "that takes five to seven days" accepted.
2. **Simulator calls**: ``callradar simulate`` calls (espeak-ng audio) run
   through the live transcribe path (same chunking, segmenter and Whisper
   model), so ASR errors and real utterance timing are in the training data.

Held out by call, with no text shared across the split: Bitext test calls draw
only from the intent head's own held-out utterances (its split is recomputed
from its model card, so the risk evaluation never sees text the intent head
trained on); simulator test calls are whole scripts never seen in training.
Weaknesses, written into the corpus card: see ``WEAKNESSES``.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from callradar.pipeline.errors import UserError
from callradar.training.labelled_calls import CallUtterance, LabelledCall, write_calls

TEMPLATES_PATH = Path(__file__).with_name("corpus_templates.yaml")
BITEXT_SOURCE = "bitext-synthetic"
SIM_SOURCE = "simulator-asr"

ESCALATION_INTENTS = {"contact_human_agent": 0.6, "delete_account": 0.4}  # the escalation itself, and its odds
COMPLAINT = "complaint"
# Ambiguous on a call (mostly "what is customer service's email"): left out, as the intent head does.
EXCLUDED_INTENTS = {"contact_customer_service"}
PROBLEM_INTENTS = ("payment_issue", "get_refund", "track_refund", "track_order", "recover_password",
                   "registration_problems", "change_order", "delivery_period")
EXCLUDED_FLAGS = {
    "Z": "spelling and punctuation noise: a chat artefact; speech recognition makes sound-alike errors instead",
    "D": "indirect speech ('ask an agent to ...'): a chatbot register, odd on a call with an agent",
}
VENTING_FLAG = "W"  # Bitext's offensive-language variants: the frustrated register of the same request
BUILDUP_TURNS = (0.15, 0.30, 0.35, 0.20)  # P(0, 1, 2, 3 frustration turns before the escalation)
ASR_STYLE_P = 0.5  # calls written lower case without punctuation, as many ASR engines output

WEAKNESSES = [
    "Bitext utterances are written chatbot requests, not speech: no disfluencies, no back-channel, "
    "one clean intent per turn. Real customers ramble, repeat themselves and mix topics.",
    "Frustration in Bitext calls comes from three sources only (restated requests, the offensive-register "
    "variant, complaints); real escalation also builds through tone, sarcasm, silence and repeat contacts, "
    "which text features cannot see.",
    "Escalation is always an explicit customer request (a human, or closing the account). Escalations the "
    "customer never voices (a supervisor barging in, a churn a week later) are not represented.",
    "Agent turns come from about 40 templates; agent behaviour (empathy, hold time) is only loosely tied "
    "to the outcome, by construction.",
    "Simulator calls come from 8 scripts spoken by espeak-ng: realistic ASR errors, but few distinct "
    "conversations and synthetic voices.",
    "Outcome rate is set by --escalated-fraction (default 0.5); real escalation rates are lower (5-15 %), "
    "so precision on real traffic will be lower than here at the same threshold.",
    "A model that scores well here has learned this construction; expect lower AUROC and shorter lead "
    "times on real calls from other domains. Retrain on archived, labelled real calls as soon as there are some.",
]


# ---------------------------------------------------------------- Bitext pools


@dataclass(frozen=True)
class BitextRow:
    text: str
    intent: str
    category: str
    flags: str


class Pool:
    """Bitext utterances of one side of the split, by intent."""

    def __init__(self, rows: list[BitextRow]):
        self.by_intent: dict[str, list[BitextRow]] = {}
        for r in rows:
            self.by_intent.setdefault(r.intent, []).append(r)
        self.ordinary = sorted(i for i in self.by_intent if i not in {*ESCALATION_INTENTS, COMPLAINT})
        self.problems = [i for i in PROBLEM_INTENTS if i in self.by_intent]
        missing = [i for i in (*ESCALATION_INTENTS, COMPLAINT) if i not in self.by_intent]
        if missing or not self.ordinary or not self.problems:
            raise UserError(f"the Bitext file lacks intents the corpus needs: {', '.join(missing) or 'ordinary ones'}")

    def pick(self, rng: random.Random, intent: str, venting: bool = False) -> BitextRow:
        rows = self.by_intent[intent]
        if venting:
            rows = [r for r in rows if VENTING_FLAG in r.flags] or rows
        return rng.choice(rows)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_intent.values())


def read_bitext(path: Path) -> list[dict]:
    import csv

    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise UserError(f"no Bitext file at {path}; pass --bitext, or --calls 0 for simulator calls only") from None
    if not rows or not {"utterance", "intent", "category", "flags"} <= rows[0].keys():
        raise UserError(f"{path}: not the Bitext customer-support CSV (need flags,utterance,category,intent)")
    return rows


def intent_head_holdout(texts: list[str], intents: list[str], intent_card: dict | None) -> set[int] | None:
    """Row indices the intent head held out, recomputed as training/intent.py splits; None if it doesn't match.

    The check against the card's held-out counts makes sure it is the same split
    of the same file, not merely the same code.
    """
    if not intent_card:
        return None
    seed = intent_card.get("params", {}).get("seed")
    metrics = intent_card.get("metrics", {})
    if seed is None or "heldout_rows" not in metrics:
        return None
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    from callradar.training.intent import EXCLUDED_INTENTS as HEAD_EXCLUDED
    from callradar.training.intent import POSITIVE_INTENTS, TEST_FRACTION, asr_style
    y = np.array([int(i in POSITIVE_INTENTS) for i in intents])
    _, groups = np.unique(np.array([asr_style(t) for t in texts], dtype=object), return_inverse=True)
    fold = StratifiedGroupKFold(round(1 / TEST_FRACTION), shuffle=True, random_state=seed)
    _, test = next(fold.split(np.zeros(len(texts)), y, groups))
    kept = [i for i in test if intents[i] not in HEAD_EXCLUDED]
    if len(kept) != metrics["heldout_rows"] or int(y[kept].sum()) != metrics.get("heldout_positives"):
        return None
    return {int(i) for i in test}


def bitext_pools(path: Path, intent_card: dict | None, seed: int, test_fraction: float) -> tuple[Pool, Pool, str]:
    """(train pool, test pool, how it was split)."""
    raw = read_bitext(path)
    texts, intents = [r["utterance"] for r in raw], [r["intent"] for r in raw]
    holdout = intent_head_holdout(texts, intents, intent_card)
    if holdout is not None:
        how = "the intent head's own held-out fold (recomputed from its model card): no test text was seen by it"
    else:
        # Grouped by normalised text, so one template never sits on both sides.
        from callradar.training.intent import asr_style

        norm = sorted({asr_style(t) for t in texts})
        rng = random.Random(f"callradar-corpus-split/{seed}")
        test_norm = set(rng.sample(norm, round(len(norm) * test_fraction)))
        holdout = {i for i, t in enumerate(texts) if asr_style(t) in test_norm}
        how = (f"own split grouped by normalised text ({test_fraction:.0%} held out, seed {seed}); the intent "
               "head's split could not be reproduced, so test calls may contain text the intent head trained on")
    train, test = [], []
    for i, r in enumerate(raw):
        if r["intent"] in EXCLUDED_INTENTS or set(r["flags"]) & EXCLUDED_FLAGS.keys():
            continue
        row = BitextRow(r["utterance"].strip(), r["intent"], r["category"], r["flags"])
        (test if i in holdout else train).append(row)
    return Pool(train), Pool(test), how


# ---------------------------------------------------------------- call assembly


def load_templates(path: Path = TEMPLATES_PATH) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


@dataclass
class _Turn:
    speaker: str
    text: str
    tense: bool = False  # the customer is frustrated: faster, jumps in, may interrupt
    lookup: bool = False  # the agent checks something: a pause may follow
    escalation: bool = False


class CallWriter:
    """Writes one call's turns: fills templates, picks Bitext rows, then times them."""

    def __init__(self, rng: random.Random, pool: Pool, tpl: dict):
        self.rng, self.pool, self.tpl = rng, pool, tpl
        self.fill = {
            "company": rng.choice(tpl["companies"]),
            "agent": rng.choice(tpl["agent_names"]),
            "name": rng.choice(tpl["customer_names"]),
            "day": rng.choice(tpl["days"]),
            "number": " ".join(str(rng.randint(0, 9)) for _ in range(rng.randint(5, 7))),
            "topic": "that",
        }
        self.turns: list[_Turn] = []

    def agent(self, kind: str, lookup: bool = False) -> None:
        self.turns.append(_Turn("agent", self.rng.choice(self.tpl["agent"][kind]).format(**self.fill), lookup=lookup))

    def customer(self, kind: str) -> None:
        self.turns.append(_Turn("customer", self.rng.choice(self.tpl["customer"][kind]).format(**self.fill)))

    def bitext(self, intent: str, venting: bool = False, tense: bool = False, escalation: bool = False) -> BitextRow:
        row = self.pool.pick(self.rng, intent, venting)
        self.turns.append(_Turn("customer", row.text, tense=tense or venting, escalation=escalation))
        return row

    def opening(self, problem_p: float) -> str:
        rng = self.rng
        intent = rng.choice(self.pool.problems if rng.random() < problem_p else self.pool.ordinary)
        self.agent("greeting")
        row = self.bitext(intent)
        self.fill["topic"] = self.tpl["topics"].get(row.category, "that")
        self.agent("ask_details")
        self.customer("details")
        self.agent("lookup", lookup=True)
        return intent


def calm_call(w: CallWriter) -> dict:
    """An ordinary request, resolved; a quarter of them with venting, some with a logged complaint."""
    rng = w.rng
    intent = w.opening(problem_p=0.45)
    variant = []
    if rng.random() < 0.2:
        w.agent("not_possible")
        w.customer("ack")
        variant.append("accepts-delay")
    if rng.random() < 0.25:
        w.bitext(intent, venting=rng.random() < 0.6, tense=True)
        w.agent("empathy")
        variant.append("venting")
    if rng.random() < 0.10:
        w.bitext(COMPLAINT, tense=True)
        w.agent("complaint_ack")
        variant.append("complaint-logged")
    if rng.random() < 0.30:
        w.bitext(rng.choice(w.pool.ordinary))
        w.agent("explain")
        variant.append("second-request")
    w.agent(rng.choice(["resolve", "explain"]))
    w.customer("thanks")
    w.agent("anything_else")
    w.customer("closing")
    w.agent("goodbye")
    return {"opening_intent": intent, "variant": "+".join(variant) or "plain"}


def escalating_call(w: CallWriter) -> dict:
    """A request that is not resolved; frustration builds over 0-3 turns, then the customer escalates."""
    rng = w.rng
    intent = w.opening(problem_p=0.7)
    w.agent(rng.choice(["not_possible", "explain"]))
    if rng.random() < 0.5:
        w.customer("ack")
    n_buildup = rng.choices(range(len(BUILDUP_TURNS)), BUILDUP_TURNS)[0]
    kinds = []
    for _ in range(n_buildup):
        r = rng.random()
        if r < 0.5:
            w.bitext(intent, venting=rng.random() < 0.5, tense=True)
            kinds.append("restated")
        elif r < 0.8:
            w.bitext(COMPLAINT, tense=True)
            kinds.append("complaint")
        else:
            w.bitext(rng.choice(w.pool.problems), tense=True)
            kinds.append("other-problem")
        w.agent(rng.choice(["not_possible", "empathy"]))
    escalation = rng.choices(list(ESCALATION_INTENTS), list(ESCALATION_INTENTS.values()))[0]
    w.bitext(escalation, venting=rng.random() < 0.3, tense=n_buildup > 0, escalation=True)
    w.agent("transfer" if escalation == "contact_human_agent" else "retention")
    w.customer("after_escalation")
    return {"opening_intent": intent, "variant": f"buildup-{n_buildup}" + "".join(f"+{k}" for k in kinds),
            "escalation_intent": escalation}


def time_turns(rng: random.Random, turns: list[_Turn]) -> tuple[list[CallUtterance], float | None]:
    """Start and end times from speaking rates, gaps, holds and interruptions; and the escalation time."""
    rate = {"agent": rng.uniform(2.4, 3.0), "customer": rng.uniform(2.2, 2.8)}  # words a second
    out, escalation_time = [], None
    t = rng.uniform(0.3, 1.0)
    prev: CallUtterance | None = None
    hold_next = False
    for turn in turns:
        words = max(1, len(turn.text.split()))
        duration = max(0.5, words / (rate[turn.speaker] * (1.12 if turn.tense else 1.0)) + rng.uniform(0.1, 0.4))
        if prev is None:
            start = t
        elif hold_next:
            start = prev.end + rng.uniform(2.0, 9.0)  # dead air while the agent looks something up
        elif turn.tense and prev.speaker != turn.speaker and rng.random() < 0.35:
            start = prev.start + rng.uniform(0.55, 0.85) * (prev.end - prev.start)  # talks over the agent
        elif turn.tense:
            start = prev.end + rng.uniform(0.05, 0.4)
        else:
            start = prev.end + rng.triangular(0.15, 1.2, 0.45)
        if prev is not None and prev.speaker == turn.speaker:
            start = max(start, prev.end + 0.3)  # nobody talks over themselves
        hold_next = turn.lookup and rng.random() < 0.5
        u = CallUtterance(turn.speaker, round(start, 2), round(start + duration, 2), turn.text)
        if turn.escalation:
            escalation_time = u.start
        out.append(u)
        prev = u
    return out, escalation_time


def bitext_call(call_id: str, escalated: bool, pool: Pool, tpl: dict, seed: int, split: str) -> LabelledCall:
    from callradar.training.intent import asr_style

    rng = random.Random(f"callradar-corpus/{seed}/{call_id}")
    w = CallWriter(rng, pool, tpl)
    meta = escalating_call(w) if escalated else calm_call(w)
    if rng.random() < ASR_STYLE_P:
        for turn in w.turns:
            turn.text = asr_style(turn.text)
        meta["style"] = "lower-case, no punctuation"
    utterances, escalation_time = time_turns(rng, w.turns)
    return LabelledCall(
        call_id=call_id,
        outcome="escalated" if escalated else "calm",
        escalation_time=escalation_time,
        utterances=utterances,
        metadata={"company": w.fill["company"], "split": split, **meta},
        source=BITEXT_SOURCE,
    )


def plan_bitext(n: int, seed: int, escalated_fraction: float, test_fraction: float) -> list[tuple[str, bool, str]]:
    """(call_id, escalated, split) per call: exact outcome counts, test split stratified by outcome."""
    rng = random.Random(f"callradar-corpus-plan/{seed}")
    n_esc = round(n * escalated_fraction)
    order = list(range(n))
    rng.shuffle(order)
    escalated = set(order[:n_esc])
    plan = []
    for group in (sorted(escalated), sorted(set(range(n)) - escalated)):
        shuffled = group[:]
        rng.shuffle(shuffled)
        test = set(shuffled[: round(len(group) * test_fraction)])
        plan += [(i, i in escalated, "test" if i in test else "train") for i in group]
    return [(f"bx-{seed}-{i:05d}", esc, split) for i, esc, split in sorted(plan)]


# ---------------------------------------------------------------- simulator calls through ASR


def transcribe_simulated(label_path: Path, stt, settings) -> list[CallUtterance]:
    """The call as the live pipeline hears it: 40 ms chunks, the stage's segmenter, Whisper."""
    from callradar.pipeline.audio.pcm import read_call_audio
    from callradar.pipeline.records import AudioChunk
    from callradar.pipeline.simulator.calls import load_label
    from callradar.pipeline.stages.transcribe import ChannelTrack

    label = load_label(label_path)
    rate, agent, customer = read_call_audio([label_path.parent / label["wav"]])
    step = rate // 25  # 40 ms
    pending = []
    for speaker, pcm in (("agent", agent), ("customer", customer)):
        track = ChannelTrack(label["call_id"], speaker, settings)
        for seq, i in enumerate(range(0, len(pcm), step)):
            chunk = AudioChunk(label["call_id"], speaker, seq, rate, i / rate, pcm[i : i + step].astype("<i2").tobytes())
            pending += track.feed(chunk, now=0.0)
        pending += track.finish()
    pending.sort(key=lambda p: p.end)  # the order a live score stage would see them
    results = stt.transcribe_batch([p.audio for p in pending])
    return [CallUtterance(p.speaker, round(p.start, 3), round(p.end, 3), r.text.strip(),
                          utterance_id=p.utterance_id, confidence=round(r.confidence, 4))
            for p, r in zip(pending, results)]


def simulator_calls(out_dir: Path, n: int, seed: int, settings) -> tuple[list[LabelledCall], list[str]]:
    """Synthesize ``n`` calls, transcribe them with the real Whisper model; hold out one calm and one escalating script."""
    from callradar.models.speech import SpeechToText
    from callradar.pipeline.simulator.calls import load_label, load_scripts, simulate_calls
    from callradar.training.progress import Bar

    book = load_scripts()
    calm, esc = book.of_kind("calm"), book.of_kind("escalating")
    held_out = [calm[seed % len(calm)].name, esc[(seed + 1) % len(esc)].name]
    print(f"simulator: synthesizing {n} calls (espeak-ng) into {out_dir}", file=sys.stderr, flush=True)
    labels = simulate_calls(out_dir, n, seed)
    stt = SpeechToText(settings)
    calls = []
    with Bar(len(labels), "transcribing simulator calls", "call") as bar:
        for path in labels:
            label = load_label(path)
            split = "test" if label["script"] in held_out else "train"
            calls.append(LabelledCall(
                call_id=label["call_id"],
                outcome=label["outcome"],
                escalation_time=label["escalation_time"],
                utterances=transcribe_simulated(path, stt, settings),
                metadata={"script": label["script"], "queue": label["queue"], "split": split,
                          "customer_tier": label["customer_tier"], "whisper": stt.model_id},
                source=SIM_SOURCE,
            ))
            bar.update()
    return calls, held_out


# ---------------------------------------------------------------- the corpus


def build_corpus(out_dir: Path, n_calls: int, seed: int, *, sim_calls: int = 0, bitext_path: Path | None = None,
                 escalated_fraction: float = 0.5, test_fraction: float = 0.25, settings=None,
                 intent_card: dict | None = None) -> dict:
    """Write ``train.parquet``, ``test.parquet``, ``corpus.json`` and ``corpus_card.md`` into ``out_dir``."""
    t0 = time.monotonic()
    out_dir = Path(out_dir)
    calls: list[LabelledCall] = []
    info: dict = {"seed": seed, "escalated_fraction": escalated_fraction, "test_fraction": test_fraction}
    if n_calls:
        if bitext_path is None:
            from callradar.training.data import bitext_file, default_data_dir

            bitext_path = bitext_file(default_data_dir())
        train_pool, test_pool, how = bitext_pools(bitext_path, intent_card, seed, test_fraction)
        tpl = load_templates()
        plan = plan_bitext(n_calls, seed, escalated_fraction, test_fraction)
        calls += [bitext_call(cid, esc, test_pool if split == "test" else train_pool, tpl, seed, split)
                  for cid, esc, split in plan]
        info["bitext"] = {"file": bitext_path.name, "sha256": _sha256(bitext_path), "calls": n_calls,
                          "split": how, "train_utterances": len(train_pool), "test_utterances": len(test_pool),
                          "excluded_flags": EXCLUDED_FLAGS, "excluded_intents": sorted(EXCLUDED_INTENTS),
                          "templates_sha256": _sha256(TEMPLATES_PATH)}
        print(f"bitext: {n_calls} calls assembled ({len(train_pool)} train / {len(test_pool)} held-out utterances)",
              file=sys.stderr, flush=True)
    if sim_calls:
        if settings is None:
            from callradar.pipeline.settings import load_settings

            settings = load_settings()
        sim, held_out = simulator_calls(out_dir / "sim-audio", sim_calls, seed, settings)
        calls += sim
        info["simulator"] = {"calls": sim_calls, "held_out_scripts": held_out,
                             "whisper": sim[0].metadata["whisper"] if sim else None}
    if not calls:
        raise UserError("nothing to build: --calls and --sim-calls are both 0")
    train = [c for c in calls if c.metadata["split"] == "train"]
    test = [c for c in calls if c.metadata["split"] == "test"]
    write_calls(out_dir / "train.parquet", train)
    write_calls(out_dir / "test.parquet", test)
    info["files"] = {name: _sha256(out_dir / name) for name in ("train.parquet", "test.parquet")}
    info["stats"] = {"train": corpus_stats(train), "test": corpus_stats(test)}
    info["build_seconds"] = round(time.monotonic() - t0, 1)
    (out_dir / "corpus.json").write_text(json.dumps(info, indent=2) + "\n")
    (out_dir / "corpus_card.md").write_text(corpus_card(info))
    return info


def corpus_stats(calls: list[LabelledCall]) -> dict:
    def median(xs):
        xs = sorted(xs)
        return round(xs[len(xs) // 2], 1) if xs else None

    by = Counter((c.source, c.outcome) for c in calls)
    esc = [c for c in calls if c.outcome == "escalated" and c.escalation_time is not None]
    return {
        "calls": len(calls),
        "by_source_and_outcome": {f"{s} {o}": n for (s, o), n in sorted(by.items())},
        "utterances": sum(len(c.utterances) for c in calls),
        "median_duration_s": median([c.end for c in calls]),
        "median_escalation_time_s": median([c.escalation_time for c in esc]),
        "median_utterances_before_escalation": median(
            [sum(u.start < c.escalation_time for u in c.utterances) for c in esc]),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def corpus_card(info: dict) -> str:
    stats = "\n".join(
        f"| {split} | {s['calls']} | {', '.join(f'{k}: {v}' for k, v in s['by_source_and_outcome'].items())} | "
        f"{s['utterances']} | {s['median_duration_s']} | {s['median_escalation_time_s']} |"
        for split, s in info["stats"].items()
    )
    bx, sim = info.get("bitext"), info.get("simulator")
    parts = []
    if bx:
        parts.append(
            f"- **Bitext calls** ({bx['calls']}, `{BITEXT_SOURCE}`): customer requests, complaints and escalations are "
            f"real Bitext utterances ({bx['file']}, sha256 `{bx['sha256'][:16]}...`); agent turns and short connecting "
            f"customer turns come from `training/corpus_templates.yaml` (sha256 `{bx['templates_sha256'][:16]}...`), "
            "used alike by calm and escalating calls. Left out: "
            + "; ".join(f"flag {k} ({v})" for k, v in bx["excluded_flags"].items())
            + f"; intents {', '.join(bx['excluded_intents'])} (ambiguous on a call). Held-out split: {bx['split']}.")
    if sim:
        parts.append(
            f"- **Simulator calls** ({sim['calls']}, `{SIM_SOURCE}`): `callradar simulate` audio through the live "
            f"transcribe path (40 ms chunks, the stage's segmenter, Whisper {sim['whisper']}), so transcripts carry "
            f"real ASR errors and timing. Held out: scripts {', '.join(sim['held_out_scripts'])} (whole scripts, "
            "never seen in training).")
    weaknesses = "\n".join(f"- {w}" for w in WEAKNESSES)
    return f"""# Semi-synthetic call corpus (seed {info['seed']})

Built by `callradar corpus build` (training/corpus.py). Labelled-calls format: docs/labelled-calls.md.
Files: `train.parquet`, `test.parquet` (held out by call), `corpus.json` (everything below, machine-readable).

## Sources
{chr(10).join(parts)}

## Construction (Bitext calls)
- Calm: greeting, an ordinary request (a problem intent such as a payment issue 45 % of the time), details,
  the agent looks it up (a 2-9 s hold half the time), resolution, thanks, goodbye. Hard cases: 20 % accept a
  "five to seven working days", 25 % vent (the request restated, often in Bitext's offensive register) and
  are calmed, 10 % file a complaint that is logged, 30 % make a second request.
- Escalating: the same opening (a problem intent 70 % of the time), the agent cannot fix it, then 0-3
  frustration turns (P = {', '.join(f'{p:.2f}' for p in BUILDUP_TURNS)}): the request restated (half in the
  offensive register), a Bitext complaint, or another problem; then the escalation: `contact_human_agent`
  ({ESCALATION_INTENTS['contact_human_agent']:.0%}) or `delete_account` ({ESCALATION_INTENTS['delete_account']:.0%}).
  **escalation_time = the start of that turn.** The agent transfers; the customer holds.
- Timing: 2.2-2.8 words/s for customers, 2.4-3.0 for agents, 12 % faster when frustrated; frustrated
  customers jump in quickly and talk over the agent 35 % of the time.
- {ASR_STYLE_P:.0%} of calls are written lower case without punctuation, as many speech recognisers output.
- Outcome rate {info['escalated_fraction']:.0%} escalated; {info['test_fraction']:.0%} of calls held out,
  stratified by outcome.

## Counts
| split | calls | by source and outcome | utterances | median duration (s) | median escalation time (s) |
| --- | --- | --- | --- | --- | --- |
{stats}

## Weaknesses: how far this generalises
{weaknesses}
"""


def load_intent_card(settings) -> dict | None:
    """The card of the intent head the live pipeline uses (its split keeps the corpus test set clean)."""
    from callradar.models.sentiment import ARTIFACTS_DIR

    root = Path(settings.models_dir) if settings.models_dir else None
    folder = root / "intent" if root is not None and (root / "intent").exists() else ARTIFACTS_DIR / "intent"
    try:
        return json.loads((folder / "card.json").read_text())
    except (OSError, ValueError):
        return None
