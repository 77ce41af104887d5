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
  if (!before || ui.me.role === "supervisor" || summary.call_id === ui.follow) render();
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
    el("td", { class: "mono" }, c.call_id),
    el("td", {}, c.agent_id || "?"),
    el("td", {}, c.queue),
    el("td", {}, c.customer_tier),
    el("td", { class: "call-time", data: { callId: c.call_id } }, c.status === "ended" ? `ended ${clock(callTime(c))}` : clock(callTime(c))),
    el("td", {}, chip(c.last_trigger, "trigger"), c.alerts > 1 ? el("span", { class: "count", title: "alerts on this call" }, ` ×${c.alerts}`) : ""),
  ));
  $("calls-body").replaceChildren(...rows);
  $("calls-empty").hidden = rows.length > 0;
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
  const items = ui.feed.slice(0, 50).map((id) => ui.alerts.get(id)).filter(Boolean).map((a) => el("li", {
    class: "alert-item", data: { alertId: a.alert_id, callId: a.call_id }, onclick: () => selectCall(a.call_id),
  },
    el("div", { class: "alert-head" }, riskBadge(a.risk), chip(a.trigger, "trigger"),
      el("span", { class: "mono" }, a.call_id), slaBadge(a)),
    el("div", { class: "alert-message" }, a.message.split("; route:")[0]),
    routeLine(a.route),
    a.route && a.route.why ? el("div", { class: "why" }, `Why this route: ${a.route.why}`) : "",
  ));
  $("alert-feed").replaceChildren(...items);
  $("alerts-empty").hidden = items.length > 0;
  tick();
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
