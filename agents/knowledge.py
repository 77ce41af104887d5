"""Knowledge snippets: short Markdown sections an agent can read out while the customer waits.

The knowledge base is a folder of ``*.md`` files (agents/knowledge/ by default,
CALLRADAR_KNOWLEDGE_DIR for your own). Each ``## `` section is one snippet,
titled by the file's ``# `` heading and its own; a file without ``## `` headings
is one snippet. Every snippet is embedded once when the trigger stage starts;
a search is then one matrix product against the embedding of what the customer
said last, so no model runs per snippet at alert time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callradar.agents.yaml_lines import ConfigError

DEFAULT_KNOWLEDGE_DIR = Path(__file__).resolve().parent / "knowledge"
MAX_SNIPPET_CHARS = 1200  # what an agent can take in during a call; longer sections are refused


class KnowledgeError(ConfigError):
    """A knowledge folder or file that cannot be used; the message names it and the problem."""


@dataclass(frozen=True)
class Snippet:
    id: str  # "<file stem>#<section slug>"
    title: str  # "<document title>: <section heading>"
    text: str
    source: str  # file name

    def to_dict(self, score: float | None = None) -> dict:
        doc = {"id": self.id, "title": self.title, "text": self.text, "source": self.source}
        if score is not None:
            doc["score"] = round(float(score), 3)
        return doc


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def parse_markdown(text: str, source: str) -> list[Snippet]:
    """Split one Markdown document into snippets, one per ``## `` section."""
    stem = Path(source).stem
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)  # notes for editors, not for agents
    title, sections, heading, body = stem.replace("-", " ").replace("_", " ").capitalize(), [], None, []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("# ") and heading is None and not "".join(body).strip():
            title = line[2:].strip()
        elif line.startswith("## "):
            if heading is not None or "".join(body).strip():
                sections.append((heading, body))
            heading, body = line[3:].strip(), []
        else:
            body.append(line)
    if heading is not None or "".join(body).strip():
        sections.append((heading, body))
    out, seen = [], set()
    for heading, lines in sections:
        content = "\n".join(lines).strip()
        if not content:
            continue
        if len(content) > MAX_SNIPPET_CHARS:
            where = f"section '{heading}'" if heading else "the text"
            raise KnowledgeError(f"{source}: {where} is {len(content)} characters; keep a snippet under "
                                 f"{MAX_SNIPPET_CHARS} so an agent can read it mid-call (split it with ## headings)")
        sid = f"{stem}#{_slug(heading)}" if heading else stem
        if sid in seen:
            raise KnowledgeError(f"{source}: two sections are headed '{heading}'")
        seen.add(sid)
        out.append(Snippet(sid, f"{title}: {heading}" if heading else title, content, Path(source).name))
    return out


class KnowledgeBase:
    """Snippets and, once :meth:`embed` has run, their embeddings for similarity search."""

    def __init__(self, snippets: list[Snippet]):
        self.snippets = snippets
        self.vectors: np.ndarray | None = None

    @classmethod
    def load(cls, folder: str | Path | None = None) -> KnowledgeBase:
        folder = Path(folder) if folder is not None else DEFAULT_KNOWLEDGE_DIR
        if not folder.is_dir():
            raise KnowledgeError(f"knowledge folder {folder} does not exist (CALLRADAR_KNOWLEDGE_DIR)")
        snippets = []
        for path in sorted(folder.glob("*.md")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise KnowledgeError(f"cannot read knowledge file {path}: {exc}") from None
            snippets += parse_markdown(text, str(path))
        if not snippets:
            raise KnowledgeError(f"knowledge folder {folder} has no Markdown (*.md) snippets")
        ids = [s.id for s in snippets]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise KnowledgeError(f"knowledge folder {folder}: snippet id(s) {', '.join(dupes)} used twice")
        return cls(snippets)

    def embed(self, encoder) -> KnowledgeBase:
        """Embed every snippet (title and text) once; call at start-up."""
        self.vectors = encoder.encode([f"{s.title}. {s.text}" for s in self.snippets])
        return self

    def search(self, query: np.ndarray, min_score: float = 0.0) -> tuple[Snippet, float] | None:
        """The snippet most similar to the (L2-normalised) query vector, if it reaches ``min_score``."""
        if self.vectors is None:
            raise RuntimeError("KnowledgeBase.search needs embed(encoder) first")
        scores = self.vectors @ query
        best = int(np.argmax(scores))
        return (self.snippets[best], float(scores[best])) if scores[best] >= min_score else None
