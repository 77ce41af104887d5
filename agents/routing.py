"""Escalation matrix: which team or tier an at-risk call goes to, and its response time (SLA).

Loaded once from agents/escalation_matrix.yaml (or CALLRADAR_ESCALATION_MATRIX) and
checked completely at start-up, so a typo stops the worker with the line to fix
instead of sending alerts with no route. Routing itself is a few dict lookups:
cheap enough for the trigger stage, and a pure function of its input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from callradar.agents.notify import Webhook, check_webhook_name, read_webhooks
from callradar.agents.playbook import FALLBACK_CATEGORY, TRIGGER_CATEGORIES
from callradar.agents.yaml_lines import Checker, ConfigError, LineDict, load_yaml, read_yaml

DEFAULT_MATRIX = Path(__file__).resolve().parent / "escalation_matrix.yaml"
TYPES = ("functional", "hierarchical")
DEFAULT_FUNCTIONAL_TIER = 2


class MatrixError(ConfigError):
    """An escalation matrix that cannot be used; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Level:
    """One step of the management chain."""

    name: str
    team: str
    tier: int
    sla_s: float
    webhook: str = ""  # name under the matrix's webhooks, notified when a case lands here


@dataclass(frozen=True)
class Team:
    """A functional escalation target."""

    team: str
    tier: int
    sla_s: float
    webhook: str = ""


@dataclass(frozen=True)
class Rule:
    category: str
    type: str  # functional | hierarchical
    start: int = 0  # hierarchy index a hierarchical rule starts at
    by_customer_tier: dict | None = None  # customer tier -> hierarchy index
    target: Team | None = None  # functional rules
    by_queue: dict | None = None  # queue -> Team


class EscalationMatrix:
    def __init__(self, hierarchy: tuple[Level, ...], rules: dict[str, Rule],
                 webhooks: dict[str, Webhook] | None = None):
        self.hierarchy = hierarchy
        self.rules = rules
        self.webhooks = webhooks or {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> EscalationMatrix:
        path = Path(path) if path is not None else DEFAULT_MATRIX
        try:
            doc = read_yaml(path, "escalation matrix")
        except ConfigError as exc:
            raise MatrixError(str(exc)) from None
        return cls.from_doc(doc, str(path))

    @classmethod
    def from_yaml(cls, text: str, source: str = "escalation matrix") -> EscalationMatrix:
        try:
            doc = load_yaml(text, source)
        except ConfigError as exc:
            raise MatrixError(str(exc)) from None
        return cls.from_doc(doc, source)

    @classmethod
    def from_doc(cls, doc, source: str) -> EscalationMatrix:
        check = Checker(source, MatrixError)
        doc = check.top(doc, allowed={"version", "hierarchy", "rules", "webhooks"}, required=("hierarchy", "rules"))
        if doc.get("version", 1) != 1:
            check.fail(doc, "version", f"version {doc['version']!r} is not supported (expected 1)")
        webhooks = read_webhooks(check, doc)
        hierarchy = _hierarchy(check, doc, webhooks)
        index = {level.name: i for i, level in enumerate(hierarchy)}
        rules_doc = check.mapping(doc, "rules", "rules")
        rules = {}
        for category in rules_doc:
            path = f"rules.{category}"
            if category not in TRIGGER_CATEGORIES:
                check.fail(rules_doc, category,
                           f"{path}: unknown trigger category; expected one of {', '.join(TRIGGER_CATEGORIES)}")
            rules[category] = _rule(check, rules_doc, category, path, index, webhooks)
        if FALLBACK_CATEGORY not in rules:
            check.fail(doc, "rules", f"rules.{FALLBACK_CATEGORY} is required: it is the fallback for every trigger")
        return cls(hierarchy, rules, webhooks)

    def route(self, category: str, queue: str = "", customer_tier: str = "", nth: int = 1) -> dict:
        """The route for a call's ``nth`` escalation (1 = its first) on ``category``.

        Returns the dict that goes into Alert.route (see docs/topics.md).
        """
        rule = self.rules.get(category) or self.rules[FALLBACK_CATEGORY]
        queue_key, tier_key = queue.strip().lower(), customer_tier.strip().lower()
        why = [category.replace("_", " ")]
        if rule.type == "functional" and nth <= 1:
            target = rule.target
            if queue_key in rule.by_queue:
                target = rule.by_queue[queue_key]
                why.append(f"{queue_key} queue")
            return _route("functional", target.team, target.tier, target.sla_s, "", category, nth, why)
        if rule.type == "hierarchical":
            start = rule.start
            if tier_key in rule.by_customer_tier:
                start = rule.by_customer_tier[tier_key]
                why.append(f"{tier_key} customer")
            steps = nth - 1
        else:  # a functional escalation that came back: up the chain from the first level
            start, steps = 0, nth - 2
        if nth > 1:
            why.append(f"escalation {nth} on this call")
        level = self.hierarchy[min(start + steps, len(self.hierarchy) - 1)]
        return _route("hierarchical", level.team, level.tier, level.sla_s, level.name, category, nth, why)

    def route_above(self, route: dict, why: str = "") -> dict | None:
        """The route one hierarchy level above ``route``, or None at the top.

        As for repeats: above a functional route is the first level; a level this
        matrix does not name is placed by its tier.
        """
        names = [level.name for level in self.hierarchy]
        if route.get("type") == "hierarchical" and route.get("level") in names:
            above = names.index(route["level"]) + 1
        elif route.get("type") == "functional":
            above = 0
        else:
            tier = route.get("tier", 0)
            above = next((i for i, level in enumerate(self.hierarchy) if level.tier > tier), len(names))
        if above >= len(names):
            return None
        level = self.hierarchy[above]
        return _route("hierarchical", level.team, level.tier, level.sla_s, level.name, route.get("rule", ""),
                      int(route.get("escalation", 1)) + 1, [why] if why else [])

    def webhook_for(self, route: dict) -> Webhook | None:
        """The webhook the matrix names for ``route`` (a level's, or the functional team's), if any."""
        name = ""
        if route.get("type") == "hierarchical":
            name = next((lv.webhook for lv in self.hierarchy if lv.name == route.get("level")), "")
        elif route.get("type") == "functional":
            rule = self.rules.get(route.get("rule", ""))
            teams = [rule.target, *rule.by_queue.values()] if rule and rule.target else []
            teams += [t for r in self.rules.values() if r.target for t in (r.target, *r.by_queue.values())]
            name = next((t.webhook for t in teams if t.team == route.get("team") and t.webhook), "")
        return self.webhooks.get(name)


def _route(kind, team, tier, sla_s, level, rule, nth, why) -> dict:
    return {"type": kind, "team": team, "tier": tier, "level": level, "sla_s": sla_s,
            "rule": rule, "escalation": nth, "why": ", ".join(why)}


def _hierarchy(check: Checker, doc: LineDict, webhooks: dict) -> tuple[Level, ...]:
    items = doc["hierarchy"]
    if not isinstance(items, list) or not items:
        check.fail(doc, "hierarchy", "hierarchy: expected a non-empty list of levels (supervisor first)")
    levels, seen = [], {}
    for i, item in enumerate(items):
        path = f"hierarchy[{i}]"
        item = check.mapping(items, i, path, allowed={"level", "team", "tier", "sla_s", "webhook"},
                             required=("level", "team", "tier", "sla_s"))
        name = check.text(item, "level", f"{path}.level")
        if name in seen:
            check.fail(item, "level", f"{path}.level: {name!r} is already level {seen[name]}")
        seen[name] = i
        levels.append(Level(name, check.text(item, "team", f"{path}.team"),
                            int(check.number(item, "tier", f"{path}.tier", minimum=1, integer=True)),
                            float(check.number(item, "sla_s", f"{path}.sla_s", minimum=1)),
                            check_webhook_name(check, item, "webhook", f"{path}.webhook", webhooks)
                            if "webhook" in item else ""))
    return tuple(levels)


def _level(check: Checker, node, key, path: str, index: dict) -> int:
    name = node[key]
    if name not in index:
        check.fail(node, key, f"{path}: {name!r} is not a hierarchy level; expected one of {', '.join(index)}")
    return index[name]


def _rule(check: Checker, rules_doc: LineDict, category: str, path: str, index: dict, webhooks: dict) -> Rule:
    spec = check.mapping(rules_doc, category, path, required=("type",))
    kind = spec["type"]
    if kind not in TYPES:
        check.fail(spec, "type", f"{path}.type: {kind!r} is not functional or hierarchical")
    if kind == "hierarchical":
        check.mapping(rules_doc, category, path, allowed={"type", "start", "by_customer_tier"})
        start = _level(check, spec, "start", f"{path}.start", index) if "start" in spec else 0
        by_tier = {}
        if "by_customer_tier" in spec:
            tiers = check.mapping(spec, "by_customer_tier", f"{path}.by_customer_tier")
            for tier in tiers:
                by_tier[str(tier).strip().lower()] = _level(check, tiers, tier, f"{path}.by_customer_tier.{tier}", index)
        return Rule(category, kind, start=start, by_customer_tier=by_tier, by_queue={})

    check.mapping(rules_doc, category, path, allowed={"type", "team", "tier", "sla_s", "by_queue", "webhook"},
                  required=("team", "sla_s"))
    target = _team(check, spec, path, None, webhooks)
    by_queue = {}
    if "by_queue" in spec:
        queues = check.mapping(spec, "by_queue", f"{path}.by_queue")
        for queue in queues:
            qpath = f"{path}.by_queue.{queue}"
            override = check.mapping(queues, queue, qpath, allowed={"team", "tier", "sla_s", "webhook"})
            if not override:
                check.fail(queues, queue, f"{qpath}: give at least one of team, tier, sla_s, webhook")
            by_queue[str(queue).strip().lower()] = _team(check, override, qpath, target, webhooks)
    return Rule(category, kind, target=target, by_customer_tier={}, by_queue=by_queue)


def _team(check: Checker, spec: LineDict, path: str, base: Team | None, webhooks: dict) -> Team:
    """A functional target; a by_queue override inherits what it leaves out from ``base``."""
    team = check.text(spec, "team", f"{path}.team") if "team" in spec else base.team
    tier = (int(check.number(spec, "tier", f"{path}.tier", minimum=1, integer=True)) if "tier" in spec
            else base.tier if base else DEFAULT_FUNCTIONAL_TIER)
    sla_s = float(check.number(spec, "sla_s", f"{path}.sla_s", minimum=1)) if "sla_s" in spec else base.sla_s
    webhook = (check_webhook_name(check, spec, "webhook", f"{path}.webhook", webhooks) if "webhook" in spec
               else base.webhook if base else "")
    return Team(team, tier, sla_s, webhook)


def load_matrix(settings) -> EscalationMatrix:
    """The matrix CALLRADAR_ESCALATION_MATRIX points at, else the bundled one."""
    return EscalationMatrix.load(settings.escalation_matrix)
