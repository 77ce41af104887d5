"""Agent assist: which playbook prompt and which knowledge snippet go with a trigger.

The trigger stage sees every scored utterance, so per utterance this only
remembers the customer's words (a bounded deque). The encoder runs when a
trigger fires, a few times per call: one forward pass over the customer's last
few utterances, then matrix products against the prompt cues and knowledge
snippets that were embedded once at start-up. While a call's risk is elevated,
:meth:`Assist.warm` embeds each new customer utterance as it comes, so the
firing itself only embeds its own.

A prompt is picked from the trigger's category by similarity to what the
customer just said (the last few utterances, newest weighted most), skipping
prompts shown on this call within the repeat window (call time, so a replay
picks the same prompts). When every prompt of the
category is that recent, a fresh general de-escalation prompt is better than a
repeat; only when those are used up too does the least recently shown one return.

The snippet is searched with the customer's side of the call so far (a few more
utterances, equally weighted): the issue is usually named early ("my refund
never arrived"), and the words that fire a trigger ("I want a supervisor") say
little about which policy helps.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from callradar.agents.playbook import FALLBACK_CATEGORY, Playbook, Prompt

RECENCY_WEIGHTS = (1.0, 0.6, 0.36)  # newest first: "what the customer just said", for the prompt
CONTEXT_UTTERANCES = 6  # the customer's side of the call, for the snippet
DEFAULT_REPEAT_WINDOW_S = 300.0
DEFAULT_MIN_SNIPPET_SCORE = 0.4  # cosine; the bundled snippets score 0.45-0.57 on their topic, 0.3-0.38 off it


@dataclass
class Suggestion:
    prompt: Prompt
    snippet: dict = field(default_factory=dict)  # Snippet.to_dict(score), or {} when none fits
    similarity: float | None = None  # the prompt's cue similarity; None without an encoder or words


@dataclass
class _CallAssist:
    heard: deque = field(default_factory=lambda: deque(maxlen=CONTEXT_UTTERANCES))  # [text, vector or None]
    shown: dict = field(default_factory=dict)  # prompt id -> call time it was last shown


class Assist:
    """Prompt and snippet choice for every live call on this worker."""

    def __init__(self, playbook: Playbook, encoder=None, knowledge=None,
                 repeat_window_s: float = DEFAULT_REPEAT_WINDOW_S,
                 min_snippet_score: float = DEFAULT_MIN_SNIPPET_SCORE):
        """``encoder``: anything with ``encode(texts) -> (n, dim)`` L2-normalised rows, or None
        (prompts then go in playbook order and no snippet is attached)."""
        if repeat_window_s < 0:
            raise ValueError("the assist repeat window must be >= 0 seconds")
        self.playbook = playbook
        self.encoder = encoder
        self.knowledge = knowledge if encoder is not None else None
        self.repeat_window_s = float(repeat_window_s)
        self.min_snippet_score = float(min_snippet_score)
        self.calls: dict[str, _CallAssist] = {}
        self._cues: dict[str, np.ndarray] = {}
        if encoder is not None:
            self._embed_cues()
            if self.knowledge is not None and self.knowledge.vectors is None:
                self.knowledge.embed(encoder)

    def _embed_cues(self) -> None:
        """One encoder pass over every prompt's cues (its text when it has none), at start-up."""
        owners, texts = [], []
        for prompts in self.playbook.prompts.values():
            for prompt in prompts:
                for cue in prompt.cues or (prompt.text,):
                    owners.append(prompt.id)
                    texts.append(cue)
        vectors = self.encoder.encode(texts)
        for pid in set(owners):
            self._cues[pid] = vectors[[i for i, owner in enumerate(owners) if owner == pid]]

    def hear(self, call_id: str, speaker: str, text: str) -> None:
        """Remember what the customer said (cheap: runs for every scored utterance)."""
        if speaker == "customer" and text and text.strip():
            self.calls.setdefault(call_id, _CallAssist()).heard.append([text.strip(), None])

    def suggest(self, call_id: str, category: str, now: float, retrieve: bool = True) -> Suggestion:
        """The prompt (and snippet) for a trigger that fired at call time ``now``; marks it shown.

        ``retrieve=False`` (shed under overload) skips the encoder: the first fresh
        prompt in playbook order, no snippet.
        """
        st = self.calls.setdefault(call_id, _CallAssist())
        recent, context = self._queries(st) if retrieve else (None, None)
        prompt, similarity = self._pick(st, category, now, recent)
        st.shown[prompt.id] = now
        snippet = {}
        if context is not None and self.knowledge is not None:
            found = self.knowledge.search(context, self.min_snippet_score)
            if found is not None:
                snippet = found[0].to_dict(found[1])
        return Suggestion(prompt, snippet, similarity)

    def _queries(self, st: _CallAssist) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(what the customer just said, the customer's side so far) as unit vectors.

        Each utterance is embedded once: ahead of time by :meth:`warm`, or here.
        """
        if self.encoder is None or not st.heard:
            return None, None
        self._embed_pending(st)
        newest_first = np.stack([vector for _, vector in reversed(st.heard)])
        weights = np.asarray(RECENCY_WEIGHTS, dtype=np.float32)[: min(len(newest_first), len(RECENCY_WEIGHTS)), None]
        return _unit((newest_first[: len(weights)] * weights).sum(axis=0)), _unit(newest_first.mean(axis=0))

    def warm(self, call_id: str) -> None:
        """Embed what the customer has said so far, ahead of a likely trigger.

        The trigger stage calls this while a call's risk is elevated but below the
        alert threshold, so a firing only has to embed its own utterance.
        """
        st = self.calls.get(call_id)
        if self.encoder is not None and st is not None:
            self._embed_pending(st)

    def _embed_pending(self, st: _CallAssist) -> None:
        todo = [item for item in st.heard if item[1] is None]
        if todo:
            for item, vector in zip(todo, self.encoder.encode([text for text, _ in todo])):
                item[1] = vector

    def _pick(self, st: _CallAssist, category: str, now: float, query) -> tuple[Prompt, float | None]:
        def fresh(prompts):
            return [p for p in prompts if now - st.shown.get(p.id, -math.inf) >= self.repeat_window_s]

        own = self.playbook.prompts_for(category)
        candidates = fresh(own) or fresh(self.playbook.prompts_for(FALLBACK_CATEGORY))
        if not candidates:
            return min(own, key=lambda p: st.shown.get(p.id, -math.inf)), None
        if query is None:
            return candidates[0], None
        scores = [float(np.max(self._cues[p.id] @ query)) for p in candidates]
        best = int(np.argmax(scores))
        return candidates[best], scores[best]

    def end_call(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    def snapshot(self, call_id: str) -> dict:
        """What a restart must keep: the customer's recent words (not their vectors) and prompts shown."""
        st = self.calls.get(call_id)
        if st is None:
            return {}
        return {"heard": [text for text, _ in st.heard], "shown": dict(st.shown)}

    def restore(self, call_id: str, snapshot: dict) -> None:
        if not snapshot:
            return
        st = self.calls[call_id] = _CallAssist()
        st.heard.extend([text, None] for text in snapshot.get("heard", ()))  # embedded again when needed
        st.shown.update(snapshot.get("shown", {}))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) + 1e-9)
