// callradar console: one page, two views (supervisor, agent), live over server-sent events.
// Everything from the server is shown with textContent, never as HTML: transcripts are untrusted.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  me: null,
  calls: new Map(), // call_id -> summary
  alerts: new Map(), // alert_id -> alert
  feed: [], // escalation_risk alert ids, newest first
  detail: null, // the followed call: summary + utterances (Map) + alerts
  cases: new Map(), // case_id -> case (supervisors)
  routes: [], // where a case may be handed over (supervisors)
  drafts: new Map(), // case_id -> what the supervisor has typed or chosen there, kept across re-renders
  caseNotes: new Map(), // case_id -> the last refusal or note for that case
  coaching: [], // coaching for this agent, newest first
  follow: null,
  skew: 0, // browser clock minus server clock, seconds
  threshold: 0.6,
  source: null,
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== "/api/login") showLogin();
  return { status: response.status, body };
}

// ------------------------------------------------------------------ sign in and out

async function start() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  for (const b of document.querySelectorAll(".period")) b.addEventListener("click", () => loadInsights(b.dataset.since));
  const { status, body } = await api("/api/me");
  if (status === 200) begin(body.me);
  else showLogin();
  setInterval(tick, 1000);
}

function showLogin() {
  if (ui.source) ui.source.close();
  ui.source = null;
  ui.me = null;
  for (const id of ["supervisor-view", "agent-view", "whoami"]) $(id).hidden = true;
  $("login-view").hidden = false;
  $("token").focus();
}

async function onLogin(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  const { status, body } = await api("/api/login", { method: "POST", body: JSON.stringify({ token }) });
  $("token").value = "";
  if (status === 200) {
    $("login-error").textContent = "";
    begin(body.me);
  } else {
    $("login-error").textContent = "That token was not recognised.";
  }
}

async function onLogout() {
  await api("/api/logout", { method: "POST" });
  showLogin();
}

function begin(me) {
  ui.me = me;
  $("login-view").hidden = true;
  $("whoami").hidden = false;
  $("role-label").textContent = me.role === "supervisor" ? `Supervisor: ${me.name}` : `Agent: ${me.name}`;
  $("supervisor-view").hidden = me.role !== "supervisor";
  $("agent-view").hidden = me.role !== "agent";
  document.body.dataset.role = me.role;
  connect(null);
}

// ------------------------------------------------------------------ the live stream

function connect(follow) {
  if (ui.source) ui.source.close();
  ui.follow = follow;
  const source = new EventSource("/api/stream" + (follow ? "?call=" + encodeURIComponent(follow) : ""));
  ui.source = source;
  const on = (kind, handler) => source.addEventListener(kind, (e) => { if (ui.source === source) handler(JSON.parse(e.data)); });
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => {
    setLive(false);
    if (source.readyState === EventSource.CLOSED && ui.source === source) {
      setTimeout(() => { if (ui.me && ui.source === source) connect(ui.follow); }, 2000);
    }
  });
  on("snapshot", onSnapshot);
  on("call", onCall);
  on("utterance", onUtterance);
  on("alert", onAlert);
  on("feedback", onFeedback);
  on("case", onCase);
  on("coaching", onCoaching);
  on("coaching_read", onCoachingRead);
}

function setLive(live) {
  $("live-dot").classList.toggle("live", live);
  $("live-dot").title = live ? "live" : "reconnecting";
}

function onSnapshot(snap) {
  ui.skew = Date.now() / 1000 - snap.now;
  ui.threshold = snap.alert_threshold;
  ui.calls = new Map(snap.calls.map((c) => [c.call_id, c]));
  ui.alerts = new Map(snap.alerts.map((a) => [a.alert_id, a]));
  ui.feed = snap.alerts.map((a) => a.alert_id);
  ui.cases = new Map(snap.cases.map((c) => [c.case_id, c]));
  ui.routes = snap.routes;
  ui.coaching = snap.coaching;
  ui.follow = snap.follow;
  ui.detail = null;
  if (snap.detail) {
    ui.detail = { ...snap.detail, utterances: new Map(snap.detail.utterances.map((u) => [u.utterance_id, u])) };
    for (const a of snap.detail.alerts) ui.alerts.set(a.alert_id, a);
  }
  render();
}

function onCall(summary) {
  const before = ui.calls.get(summary.call_id);
  ui.calls.set(summary.call_id, summary);
  if (ui.detail && ui.detail.call_id === summary.call_id) Object.assign(ui.detail, summary);
  // An agent's screen follows their newest live call.
  if (ui.me.role === "agent" && summary.status === "live" && summary.call_id !== ui.follow) {
    const current = ui.follow ? ui.calls.get(ui.follow) : null;
    if (!current || current.status === "ended" || (summary.started_ts || 0) > (current.started_ts || 0)) {
      connect(summary.call_id);
      return;
    }
  }
  if (ui.me.role === "supervisor") {
    renderCalls(); // the alert feed with its case forms stays as it is
    if (ui.detail && ui.detail.call_id === summary.call_id) renderTranscripts();
  } else if (!before || summary.call_id === ui.follow) render();
}

function onUtterance(u) {
  if (!ui.detail || ui.detail.call_id !== u.call_id) return;
  ui.detail.utterances.set(u.utterance_id, u);
  renderTranscripts();
}

function onAlert(alert) {
  ui.alerts.set(alert.alert_id, alert);
  if (alert.alert_type === "escalation_risk" && !ui.feed.includes(alert.alert_id)) ui.feed.unshift(alert.alert_id);
  if (ui.detail && ui.detail.call_id === alert.call_id && !ui.detail.alerts.some((a) => a.alert_id === alert.alert_id)) {
    ui.detail.alerts.push(alert);
  }
  render();
}

function onCase(c) {
  const known = ui.cases.get(c.case_id);
  if (known && known.version > c.version) return;
  ui.cases.set(c.case_id, c);
  renderFeed();
}

function onCoaching(note) {
  if (!ui.coaching.some((n) => n.event_id === note.event_id)) ui.coaching.unshift(note);
  renderCoaching();
}

function onCoachingRead(mark) {
  for (const n of ui.coaching) if (n.event_id === mark.event_id) n.read = true;
  renderCoaching();
}

function onFeedback(mark) {
  const alert = ui.alerts.get(mark.alert_id);
  if (alert) alert.feedback = mark.helpful;
  if (ui.detail) for (const a of ui.detail.alerts) if (a.alert_id === mark.alert_id) a.feedback = mark.helpful;
  renderPrompts();
}

// ------------------------------------------------------------------ rendering

function render() {
  if (!ui.me) return;
  if (ui.me.role === "supervisor") {
    renderCalls();
    renderFeed();
  } else {
    renderAgentHeader();
    renderCoaching();
    renderPrompts();
  }
  renderTranscripts();
}

function riskLevel(risk) {
  return risk >= ui.threshold ? "high" : risk >= 0.4 ? "mid" : "low";
}

function riskBadge(risk) {
  return el("span", { class: `risk risk-${riskLevel(risk)}` }, risk.toFixed(2));
}

function sparkline(risks) {
  const ns = "http://www.w3.org/2000/svg";
  const width = 110, height = 26, points = risks.slice(-60);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "risk over the call");
  const y = (r) => (height - 2 - r * (height - 4)).toFixed(1);
  const line = document.createElementNS(ns, "line");
  for (const [k, v] of Object.entries({ x1: 0, x2: width, y1: y(ui.threshold), y2: y(ui.threshold), class: "spark-threshold" })) line.setAttribute(k, v);
  svg.append(line);
  if (points.length) {
    const step = points.length > 1 ? width / (points.length - 1) : 0;
    const poly = document.createElementNS(ns, "polyline");
    poly.setAttribute("points", points.map((r, i) => `${(i * step).toFixed(1)},${y(r)}`).join(" "));
    poly.setAttribute("class", `spark-line spark-${riskLevel(points[points.length - 1])}`);
    svg.append(poly);
  }
  return svg;
}

function clock(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

function serverNow() {
  return Date.now() / 1000 - ui.skew;
}

function callTime(call) {
  if (call.status === "live" && call.started_ts) return serverNow() - call.started_ts;
  if (call.ended_ts && call.started_ts) return call.ended_ts - call.started_ts;
  return call.duration_s;
}

function chip(text, cls = "") {
  return text ? el("span", { class: `chip ${cls}` }, text.replaceAll("_", " ")) : "";
}

function rankedCalls() {
  return [...ui.calls.values()].sort((a, b) => {
    if (a.status !== b.status) return a.status === "live" ? -1 : 1;
    return a.status === "live" ? b.risk - a.risk : (b.ended_ts || 0) - (a.ended_ts || 0);
  });
}

function selectCall(callId) {
  if (callId !== ui.follow) connect(callId);
}

function renderCalls() {
  const rows = rankedCalls().map((c) => el("tr", {
    class: [c.call_id === ui.follow ? "selected" : "", c.status === "ended" ? "ended" : ""].join(" "),
    data: { callId: c.call_id, status: c.status },
    onclick: () => selectCall(c.call_id),
  },
    el("td", {}, riskBadge(c.risk)),
    el("td", {}, sparkline(c.risks)),
    el("td", { class: "mono" }, c.call_id, behindMarker(c)),
    el("td", {}, c.agent_id || "?"),
    el("td", {}, c.queue),
    el("td", {}, c.customer_tier),
    el("td", { class: "call-time", data: { callId: c.call_id } }, c.status === "ended" ? `ended ${clock(callTime(c))}` : clock(callTime(c))),
    el("td", {}, chip(c.last_trigger, "trigger"), c.alerts > 1 ? el("span", { class: "count", title: "alerts on this call" }, ` ×${c.alerts}`) : ""),
  ));
  $("calls-body").replaceChildren(...rows);
  $("calls-empty").hidden = rows.length > 0;
}

// The agent's words wait for speech to text behind the customer's when Whisper is the limit; the
// server sends the lag only while it is over the notice threshold (agent_behind_s, 0 otherwise).
function behindMarker(call) {
  if (!call.agent_behind_s) return "";
  return el("span", {
    class: "behind", role: "status", data: { behindS: String(call.agent_behind_s) },
    title: "The agent's last words are still waiting to be transcribed; they will appear in order.",
  }, `agent side ${call.agent_behind_s} s behind`);
}

function routeLine(route) {
  if (!route || !route.team) return "";
  const kind = route.type === "hierarchical" ? `hierarchical, ${route.level}` : "functional";
  return el("div", { class: "route" }, "Route: ", el("strong", {}, route.team), ` (tier ${route.tier}, ${kind})`);
}

function slaBadge(alert) {
  if (!alert.route || !alert.route.sla_s) return "";
  return el("span", { class: "sla", data: { due: String(alert.created_ts + alert.route.sla_s) } }, "");
}

function renderFeed() {
  const caseOf = new Map(); // alert_id -> case
  for (const c of ui.cases.values()) for (const id of c.alert_ids) caseOf.set(id, c);
  const shown = new Set(); // cases already shown in full, on their newest alert
  const alerts = ui.feed.slice(0, 50).map((id) => ui.alerts.get(id)).filter(Boolean);
  for (const a of alerts) if (caseOf.has(a.alert_id)) shown.add(caseOf.get(a.alert_id).case_id);
  // Open cases whose alerts this page never got (older than the console's history): listed first.
  const orphans = [...ui.cases.values()].filter((c) => c.status !== "resolved" && !shown.has(c.case_id))
    .sort((x, y) => x.opened_ts - y.opened_ts);
  shown.clear();
  const items = [...orphans.map((c) => caseOnlyItem(c)), ...alerts.map((a) => {
    const c = caseOf.get(a.alert_id);
    const full = c && !shown.has(c.case_id);
    if (c) shown.add(c.case_id);
    return el("li", {
      class: `alert-item${c ? ` case-${c.status}` : ""}`, data: { alertId: a.alert_id, callId: a.call_id, caseId: c ? c.case_id : undefined },
      onclick: (event) => { if (!event.target.closest(".case")) selectCall(a.call_id); },
    },
      el("div", { class: "alert-head" }, riskBadge(a.risk), chip(a.trigger, "trigger"),
        el("span", { class: "mono" }, a.call_id), c ? caseClock(c) : slaBadge(a)),
      el("div", { class: "alert-message" }, a.message.split("; route:")[0]),
      routeLine(a.route),
      a.route && a.route.why ? el("div", { class: "why" }, `Why this route: ${a.route.why}`) : "",
      c ? (full ? caseBlock(c) : el("div", { class: "case-more" }, `Part of the case above: ${caseStateText(c)}`)) : "",
    );
  })];
  keepFocus($("alert-feed"), items);
  $("alerts-empty").hidden = items.length > 0;
  tick();
}

function caseOnlyItem(c) {
  return el("li", {
    class: `alert-item case-${c.status}`, data: { callId: c.call_id, caseId: c.case_id },
    onclick: (event) => { if (!event.target.closest(".case")) selectCall(c.call_id); },
  },
    el("div", { class: "alert-head" }, riskBadge(c.risk), chip(c.trigger, "trigger"), el("span", { class: "mono" }, c.call_id), caseClock(c)),
    el("div", { class: "alert-message" }, `Open case since ${timeOfDay(c.opened_ts)}`),
    routeLine(c.route),
    caseBlock(c),
  );
}

// Re-rendering must not take a half-typed coaching message or the caret away from the supervisor.
function keepFocus(list, items) {
  const active = document.activeElement;
  const focused = active && list.contains(active) ? active.dataset.field : null;
  const caseId = focused ? active.closest(".case").dataset.caseId : null;
  const [start, end] = focused && "selectionStart" in active ? [active.selectionStart, active.selectionEnd] : [null, null];
  const scroll = list.scrollTop;
  list.replaceChildren(...items);
  list.scrollTop = scroll;
  if (!focused) return;
  const again = list.querySelector(`.case[data-case-id="${CSS.escape(caseId)}"] [data-field="${focused}"]`);
  if (!again) return;
  again.focus();
  if (start !== null && again.setSelectionRange) try { again.setSelectionRange(start, end); } catch (e) { /* selects */ }
}

// ------------------------------------------------------------------ escalation cases (supervisors)

const OUTCOMES = [["resolved", "Resolved"], ["customer_escalated", "Customer escalated"], ["false_alarm", "False alarm"]];

function timeOfDay(ts) {
  return new Date((ts + ui.skew) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function caseStateText(c) {
  if (c.status === "open") return c.breaches ? "open, response time missed: waiting for a claim" : "open: waiting for a claim";
  if (c.status === "acknowledged") return `acknowledged by ${c.holder}`;
  return `resolved by ${c.holder || "?"}: ${c.outcome.replaceAll("_", " ")}${c.outcome === "resolved" ? ` at tier ${c.tier}` : ""}`;
}

function caseClock(c) {
  if (c.status === "open" && c.due_ts > 0) return el("span", { class: "sla", data: { due: String(c.due_ts) } }, "");
  if (c.response === "pending") return "";
  return el("span", { class: `response response-${c.response}` }, c.response === "met" ? "response time met" : "response time breached");
}

function draft(caseId) {
  if (!ui.drafts.has(caseId)) ui.drafts.set(caseId, {});
  return ui.drafts.get(caseId);
}

function field(caseId, name, node) {
  node.dataset.field = name;
  const d = draft(caseId);
  if (d[name] !== undefined) node.value = d[name];
  node.addEventListener("input", () => { d[name] = node.value; });
  node.addEventListener("change", () => { d[name] = node.value; });
  return node;
}

function sameRoute(a, b) {
  return a && b && a.type === b.type && a.team === b.team && (a.level || "") === (b.level || "");
}

function routeOptions(c) {
  const routes = ui.routes.filter((r) => !sameRoute(r, c.route));
  const prefill = routes.findIndex((r) => sameRoute(r, c.default_handover));
  const options = routes.map((r, i) => el("option", { value: String(i), selected: i === prefill },
    `${r.team} (tier ${r.tier}, ${r.type === "hierarchical" ? r.level : "functional"})`));
  return { routes, options };
}

function caseBlock(c) {
  const mine = c.status === "acknowledged" && c.holder === ui.me.name;
  const id = c.case_id;
  const parts = [el("div", { class: "case-head" },
    el("span", { class: `case-status status-${c.status}` }, c.status),
    el("span", { class: "case-state" }, caseStateText(c)))]; // met or breached: in the card's head
  if (c.note && c.status === "resolved") parts.push(el("div", { class: "case-note" }, `Note: ${c.note}`));

  const controls = [];
  if (c.status === "open") {
    controls.push(el("div", { class: "case-row" }, button("Claim", "claim", () => caseAction(c, "acknowledge", {}))));
  } else if (mine) {
    const message = field(id, "coach", el("textarea", { rows: "2", maxlength: "2000", placeholder: `Coach ${c.agent_id || "the agent"}: what to say or do next`, "aria-label": "coaching message" }));
    controls.push(el("div", { class: "case-row" }, message,
      button("Send", "coach", () => caseAction(c, "coach", { message: draft(id).coach || "" }, () => { delete draft(id).coach; }))));
    const { routes, options } = routeOptions(c);
    if (routes.length) {
      const select = field(id, "route", el("select", { "aria-label": "hand over to" }, options));
      const note = field(id, "handoverNote", el("input", { type: "text", maxlength: "2000", placeholder: "note (optional)", "aria-label": "hand-over note" }));
      controls.push(el("div", { class: "case-row" }, el("label", {}, "Hand over to"), select, note,
        button("Hand over", "handover", () => {
          const r = routes[Number(select.value)];
          caseAction(c, "handover", { route: { type: r.type, team: r.team, level: r.level }, note: draft(id).handoverNote || "" },
            () => { delete draft(id).route; delete draft(id).handoverNote; });
        })));
    }
    const tiers = [...new Set([1, c.route.tier, ...ui.routes.map((r) => r.tier)])].sort((a, b) => a - b);
    const outcome = field(id, "outcome", el("select", { "aria-label": "outcome" }, OUTCOMES.map(([v, label]) => el("option", { value: v }, label))));
    const tier = field(id, "tier", el("select", { "aria-label": "resolved at tier" },
      tiers.map((t) => el("option", { value: String(t), selected: t === c.route.tier }, t === 1 ? "tier 1 (agent)" : `tier ${t}`))));
    const note = field(id, "resolveNote", el("input", { type: "text", maxlength: "2000", placeholder: "note", "aria-label": "resolution note" }));
    controls.push(el("div", { class: "case-row" }, el("label", {}, "Resolve"), outcome, tier, note,
      button("Resolve", "resolve", () => caseAction(c, "resolve",
        { outcome: outcome.value, tier: Number(tier.value), note: draft(id).resolveNote || "" }, () => ui.drafts.delete(id)))));
  } else if (c.status === "acknowledged") {
    controls.push(el("div", { class: "case-held" }, `${c.holder} has this case.`));
  } else {
    const note = field(id, "reopenNote", el("input", { type: "text", maxlength: "2000", placeholder: "why (optional)", "aria-label": "reopen note" }));
    controls.push(el("div", { class: "case-row" }, note,
      button("Reopen", "reopen", () => caseAction(c, "reopen", { note: draft(id).reopenNote || "" }, () => ui.drafts.delete(id)))));
  }
  const notice = ui.caseNotes.get(id);
  return el("div", { class: "case", data: { caseId: id, status: c.status, version: String(c.version), holder: c.holder } },
    ...parts, ...controls,
    el("div", { class: "case-error", role: "status" }, notice || ""),
    caseLog(c));
}

function button(label, action, onclick) {
  return el("button", { type: "button", class: "case-button", data: { action }, onclick }, label);
}

function caseLog(c) {
  const read = new Set(c.coaching_read || []);
  const lines = c.events.slice(-6).map((e) => {
    let text;
    if (e.kind === "opened") text = `opened for ${e.route.team}`;
    else if (e.kind === "acknowledged") text = `${e.actor} claimed it`;
    else if (e.kind === "coaching_sent") text = `${e.actor} to ${e.agent_id}: “${e.message}”${read.has(e.event_id) ? " (read)" : ""}`;
    else if (e.kind === "handed_over") text = `${e.actor} handed it to ${e.route.team}${e.note ? `: ${e.note}` : ""}`;
    else if (e.kind === "breached") text = `response time missed; now with ${e.route.team}`;
    else if (e.kind === "resolved") text = `${e.actor} resolved it: ${e.outcome.replaceAll("_", " ")}`;
    else text = `${e.actor} reopened it${e.note ? `: ${e.note}` : ""}`;
    return el("li", { data: { kind: e.kind } }, el("span", { class: "utt-time" }, timeOfDay(e.ts)), " ", text);
  });
  return el("ol", { class: "case-log" }, lines);
}

async function caseAction(c, action, body, onDone = () => {}) {
  const current = ui.cases.get(c.case_id) || c;
  ui.caseNotes.set(c.case_id, "…");
  renderFeed();
  const { status, body: reply } = await api(`/api/cases/${encodeURIComponent(c.case_id)}/${action}`, {
    method: "POST", body: JSON.stringify({ ...body, expected_version: current.version }),
  });
  if (status === 200) {
    ui.caseNotes.delete(c.case_id);
    onDone();
    onCase(reply.case);
    return;
  }
  ui.caseNotes.set(c.case_id, status === 202 ? "Sent; waiting for it to come back." : reply.error || `Refused (${status}).`);
  if (status === 202) onDone();
  renderFeed();
}

// ------------------------------------------------------------------ coaching (agents)

function renderCoaching() {
  if (!ui.me || ui.me.role !== "agent") return;
  const items = ui.coaching.map((n) => el("li", { class: `coaching${n.read ? " read" : ""}`, data: { eventId: n.event_id, caseId: n.case_id } },
    el("div", { class: "prompt-head" }, el("strong", {}, `From ${n.from}`),
      el("span", { class: "utt-time" }, `${timeOfDay(n.ts)} · call ${n.call_id}`)),
    el("p", { class: "coaching-text" }, n.message),
    n.read ? el("span", { class: "feedback-note" }, "Read") :
      el("button", { type: "button", class: "feedback-button mark-read", onclick: (e) => markRead(n, e.target) }, "Mark read"),
  ));
  $("coaching").replaceChildren(...items);
  $("coaching-card").hidden = items.length === 0;
  $("coaching-unread").textContent = ui.coaching.some((n) => !n.read) ? `${ui.coaching.filter((n) => !n.read).length} new` : "";
}

async function markRead(note, button) {
  button.disabled = true;
  const { status } = await api("/api/coaching/read", { method: "POST", body: JSON.stringify({ event_id: note.event_id }) });
  if (status === 200) note.read = true;
  button.disabled = false;
  renderCoaching();
}

function transcriptItems(detail, withAlerts) {
  const items = [...detail.utterances.values()].map((u) => ({ t: u.start, node: el("li", {
    class: `utt speaker-${u.speaker} sentiment-${u.sentiment}`,
    data: { utteranceId: u.utterance_id, sentiment: u.sentiment },
    title: `${u.sentiment} (P negative ${u.negative}), call risk ${u.risk.toFixed(2)}`,
  },
    el("span", { class: "utt-time" }, clock(u.start)),
    el("span", { class: "utt-speaker" }, u.speaker),
    el("span", { class: "utt-text" }, u.text, ...u.keywords.map((k) => chip(k, "keyword"))),
  ) }));
  if (withAlerts) {
    for (const a of detail.alerts) {
      const label = a.alert_type === "escalation_risk"
        ? `Alert: ${a.trigger.replaceAll("_", " ")}, risk ${a.risk.toFixed(2)}` + (a.route && a.route.team ? `, routed to ${a.route.team}` : "")
        : `Prompt shown to the agent: ${a.prompt_id}`;
      items.push({ t: a.call_time + 0.001, node: el("li", { class: `marker marker-${a.alert_type}` }, el("span", { class: "utt-time" }, clock(a.call_time)), label) });
    }
  }
  return items.sort((x, y) => x.t - y.t).map((x) => x.node);
}

function renderTranscripts() {
  if (!ui.me) return;
  if (ui.me.role === "supervisor") {
    $("call-panel").hidden = !ui.detail;
    if (!ui.detail) return;
    $("panel-title").textContent = ui.detail.call_id;
    $("panel-meta").replaceChildren(...metaLine(ui.detail));
    keepScrolled($("panel-transcript"), transcriptItems(ui.detail, true));
  } else {
    $("agent-empty").hidden = !!ui.detail;
    if (!ui.detail) { $("agent-transcript").replaceChildren(); return; }
    keepScrolled($("agent-transcript"), transcriptItems(ui.detail, false));
  }
}

function keepScrolled(list, items) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...items);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function metaLine(call) {
  return [
    riskBadge(call.risk), sparkline(call.risks),
    el("span", {}, `agent ${call.agent_id || "?"}`), el("span", {}, `queue ${call.queue || "?"}`),
    el("span", {}, `tier ${call.customer_tier || "?"}`), el("span", { class: "status" }, call.status),
    behindMarker(call),
  ];
}

function renderAgentHeader() {
  const call = ui.detail;
  $("agent-call-title").textContent = call ? call.call_id : "";
  $("agent-meta").replaceChildren(...(call ? metaLine(call) : []));
}

function renderPrompts() {
  if (!ui.me || ui.me.role !== "agent") return;
  const prompts = ui.detail ? ui.detail.alerts.filter((a) => a.alert_type === "assist_prompt") : [];
  const items = prompts.slice().reverse().map((a) => el("li", { class: "prompt", data: { alertId: a.alert_id, promptId: a.prompt_id } },
    el("div", { class: "prompt-head" }, chip(a.trigger, "trigger"), el("span", { class: "utt-time" }, `at ${clock(a.call_time)}`)),
    el("p", { class: "prompt-text" }, a.message),
    a.snippet && a.snippet.id ? el("div", { class: "snippet", data: { snippetId: a.snippet.id } },
      el("div", { class: "snippet-title" }, a.snippet.title),
      el("p", {}, a.snippet.text),
      el("div", { class: "snippet-source" }, `from ${a.snippet.source}`)) : "",
    el("div", { class: "feedback" },
      feedbackButton(a, true, "Helpful"), feedbackButton(a, false, "Not helpful"),
      el("span", { class: "feedback-note" }, a.feedback === null || a.feedback === undefined ? "" : "Thanks, noted.")),
  ));
  $("prompts").replaceChildren(...items);
  $("prompts-empty").hidden = items.length > 0;
}

function feedbackButton(alert, helpful, label) {
  return el("button", {
    type: "button", class: "feedback-button", data: { helpful: String(helpful) },
    "aria-pressed": String(alert.feedback === helpful),
    onclick: (event) => sendFeedback(alert, helpful, event.target),
  }, label);
}

async function sendFeedback(alert, helpful, button) {
  button.disabled = true;
  const { status, body } = await api("/api/feedback", { method: "POST", body: JSON.stringify({ alert_id: alert.alert_id, helpful }) });
  button.disabled = false;
  if (status === 200) {
    alert.feedback = body.helpful;
    renderPrompts();
  } else {
    button.parentElement.querySelector(".feedback-note").textContent = body.error || "Could not send; try again.";
  }
}

// ------------------------------------------------------------------ insights (supervisors): the archive's numbers

// What each of the report's tables is drawn as: [column, legend, colour] per series; share: a 0..1 axis.
const SERIES_ESCALATIONS = [["escalated", "escalated", "red"], ["alerted_calls", "with a supervisor alert", "orange"]];
const CHARTS = {
  escalations_by_day: { columns: true, label: (r, c) => String(r[c.day]).slice(5), series: SERIES_ESCALATIONS, wide: true },
  escalations_by_queue: { series: SERIES_ESCALATIONS },
  escalations_by_agent: { series: SERIES_ESCALATIONS },
  escalations_by_customer_tier: { series: SERIES_ESCALATIONS },
  escalations_by_trigger: { series: [["supervisor_alerts", "supervisor alerts", "orange"], ["escalated_calls", "escalated calls", "red"]] },
  escalations_by_tier: { label: (r) => `tier ${r[0]}`, series: [["cases", "cases", "blue"], ["customer_escalated", "customer escalated", "red"], ["false_alarm", "false alarm", "grey"]] },
  alert_precision_by_trigger: { share: true, series: [["precision", "precision: confirmed / (confirmed + false alarm)", "green"]] },
  lead_time_histogram: { columns: true, label: (r, c) => `${r[c.from_s]}…${r[c.to_s]}`, series: [["calls", "escalated calls by lead time, s (> 0: warned before)", "green"]] },
  response_adherence: { share: true, series: [["adherence", "met / (met + breached)", "blue"]] },
  prompt_helpfulness: { share: true, series: [["helpful_share", "share of marks that said Helpful", "purple"]] },
  calmed_after_prompt: { share: true, series: [["calmed_share", "share of prompted calls that calmed down", "cyan"]] },
};
const MAX_BARS = 20;
const MAX_TABLE_ROWS = 50;
const insights = { since: "7d", loading: 0 };

function showTab(tab) {
  for (const t of document.querySelectorAll(".tab")) t.setAttribute("aria-selected", String(t.dataset.tab === tab));
  $("live-view").hidden = tab !== "live";
  $("insights-view").hidden = tab !== "insights";
  if (tab === "insights") loadInsights(insights.since);
}

async function loadInsights(since) {
  insights.since = since;
  for (const b of document.querySelectorAll(".period")) b.setAttribute("aria-pressed", String(b.dataset.since === since));
  const mine = ++insights.loading;
  $("insights-status").textContent = "Reading the archive…";
  const { status, body } = await api("/api/insights?since=" + encodeURIComponent(since));
  if (mine !== insights.loading) return; // another period was chosen meanwhile
  renderInsights(status, body);
}

function renderInsights(status, doc) {
  const view = $("insights-view");
  view.dataset.since = insights.since;
  const empty = (message, reason) => {
    $("insights-message").textContent = message;
    $("insights-reason").textContent = reason || "";
    $("insights-empty").hidden = false;
    $("insights-body").replaceChildren();
  };
  $("insights-empty").hidden = true;
  if (status !== 200) {
    $("insights-status").textContent = "";
    view.dataset.state = "error";
    return empty(doc.error || `The insights could not be read (HTTP ${status}).`);
  }
  if (doc.empty) {
    $("insights-status").textContent = "";
    view.dataset.state = "empty";
    return empty(doc.message, `${doc.reason}.`);
  }
  const updated = new Date(doc.generated_ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  $("insights-status").textContent = `${doc.calls} of ${doc.archived_calls} archived calls · ${doc.archive} · as of ${updated}`;
  if (!doc.calls) {
    view.dataset.state = "none";
    return empty(`No archived calls in the last ${doc.since}.`, `The archive holds ${doc.archived_calls}; choose a longer period.`);
  }
  view.dataset.state = "ready";
  $("insights-body").replaceChildren(...Object.entries(doc.tables).map(([name, table]) => insightCard(name, table)));
}

function insightCard(name, table) {
  const spec = CHARTS[name];
  const card = el("section", { class: `card insight${spec && spec.wide ? " wide" : ""}`, data: { table: name } },
    el("h2", {}, table.title));
  if (table.note) card.append(el("p", { class: "insight-note" }, table.note));
  if (spec && table.rows.length) card.append(legend(spec.series), chart(name, table, spec));
  card.append(table.rows.length ? insightTable(table) : el("p", { class: "empty" }, table.note.startsWith("no case") ? "" : "Nothing in this period."));
  return card;
}

function legend(series) {
  return el("div", { class: "legend" }, series.map(([, text, colour]) => el("span", {}, el("i", { class: `bar-${colour}` }), text)));
}

function cell(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" && !Number.isInteger(v)) return String(Number(v.toPrecision(4)));
  return String(v);
}

function insightTable(table) {
  const rows = table.rows.slice(0, MAX_TABLE_ROWS);
  const numeric = table.columns.map((_, i) => rows.some((r) => typeof r[i] === "number"));
  const cls = (i) => (numeric[i] ? "num" : "");
  return el("div", { class: "insight-table" },
    el("table", {},
      el("thead", {}, el("tr", {}, table.columns.map((c, i) => el("th", { class: cls(i) }, c.replaceAll("_", " "))))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v, i) => el("td", { class: cls(i) }, cell(v))))))),
    table.rows.length > rows.length ? el("p", { class: "count" }, `${rows.length} of ${table.rows.length} rows; all in callradar report's CSV`) : "");
}

function svgNode(tag, attrs = {}, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Bars drawn here, no chart library: horizontal bars per row, or columns (days, lead-time bins).
function chart(name, table, spec) {
  const col = Object.fromEntries(table.columns.map((c, i) => [c, i]));
  const rows = table.rows.slice(0, MAX_BARS);
  const label = spec.label || ((r) => String(r[0]));
  const value = (r, key) => (typeof r[col[key]] === "number" ? r[col[key]] : null);
  const top = spec.share ? 1 : Math.max(1, ...rows.flatMap((r) => spec.series.map(([key]) => value(r, key) || 0)));
  const svg = svgNode("svg", { class: "chart", role: "img", "aria-label": table.title, "data-table": name });
  const bar = (x, y, w, h, colour, key, r) => {
    const v = value(r, key);
    const rect = svgNode("rect", { class: `bar bar-${colour}`, x: x.toFixed(1), y: y.toFixed(1), width: Math.max(0, w).toFixed(1),
      height: Math.max(0, h).toFixed(1), rx: 1.5, "data-series": key, "data-label": label(r, col) });
    rect.append(svgNode("title", {}, `${label(r, col)}: ${cell(v)} ${key.replaceAll("_", " ")}`));
    return rect;
  };
  const tick = (v) => (spec.share ? `${Math.round(v * 100)}%` : cell(v));
  const series = spec.series;
  if (spec.columns) {
    const width = spec.wide ? 1300 : 560, height = spec.wide ? 190 : 170, left = 36, bottom = 22, plotH = height - bottom - 8;
    const band = (width - left) / rows.length, barW = Math.min(28, (band * 0.8) / series.length);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    for (const f of [0.5, 1]) {
      const y = 8 + plotH * (1 - f);
      svg.append(svgNode("line", { class: "grid-line", x1: left, x2: width, y1: y, y2: y }),
        svgNode("text", { x: left - 4, y: y + 4, "text-anchor": "end" }, tick(top * f)));
    }
    const step = Math.ceil(rows.length / 12);
    rows.forEach((r, i) => {
      const mid = left + band * (i + 0.5);
      series.forEach(([key, , colour], k) => {
        const v = value(r, key);
        if (v === null) return;
        const h = (plotH * v) / top;
        svg.append(bar(mid + (k - series.length / 2) * barW, 8 + plotH - h, barW - 1, h, colour, key, r));
      });
      if (i % step === 0) svg.append(svgNode("text", { x: mid, y: height - 6, "text-anchor": "middle" }, label(r, col)));
    });
    svg.append(svgNode("line", { class: "axis", x1: left, x2: width, y1: 8 + plotH, y2: 8 + plotH }));
    return svg;
  }
  const width = 560, left = 150, right = 44, rowH = 6 + 12 * series.length, plotW = width - left - right;
  const height = rows.length * rowH + 18;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  for (const f of [0, 0.5, 1]) {
    const x = left + plotW * f;
    svg.append(svgNode("line", { class: f ? "grid-line" : "axis", x1: x, x2: x, y1: 0, y2: height - 16 }),
      svgNode("text", { x, y: height - 4, "text-anchor": "middle" }, tick(top * f)));
  }
  rows.forEach((r, i) => {
    const y0 = i * rowH + 3;
    const text = label(r, col);
    svg.append(svgNode("text", { x: left - 6, y: y0 + (rowH - 6) / 2 + 4, "text-anchor": "end" }, text.length > 24 ? text.slice(0, 23) + "…" : text));
    series.forEach(([key, , colour], k) => {
      const v = value(r, key);
      if (v === null) return;
      const w = (plotW * v) / top;
      svg.append(bar(left, y0 + k * 12, w, 10, colour, key, r),
        svgNode("text", { x: left + w + 4, y: y0 + k * 12 + 9 }, spec.share ? `${Math.round(v * 100)}%` : cell(v)));
    });
  });
  return svg;
}

// ------------------------------------------------------------------ clocks

function tick() {
  const now = serverNow();
  for (const node of document.querySelectorAll(".sla")) {
    const left = Number(node.dataset.due) - now;
    node.textContent = left >= 0 ? `respond in ${clock(left)}` : `overdue ${clock(-left)}`;
    node.classList.toggle("overdue", left < 0);
  }
  for (const node of document.querySelectorAll("td.call-time")) {
    const call = ui.calls.get(node.dataset.callId);
    if (call && call.status === "live") node.textContent = clock(callTime(call));
  }
}

start();
