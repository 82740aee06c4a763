// Vårdlinje: the supervisors' live page (docs/supervisor.md).
//
// The server renders the shell (/supervisor); this module fills it from the supervisors' WebSocket
// (/api/v1/supervisor/ws?region=XX), which sends {"type": "region", ...} — the JSON of
// GET /api/v1/supervisor/regions/{region} plus `at` (the server's time) — on connect and whenever it changes.
// A nurse's state is changed with POST /api/v1/supervisor/nurses/{endpoint}/presence, the session's CSRF
// token (from GET /api/v1/me) in X-CSRF-Token; the change comes back over the WebSocket like any other.
//
// No framework, no build step, no inline code (the page's Content-Security-Policy forbids it).

const TEXT = {
  sv: {
    skip: "Hoppa till innehållet", title: "Översikt för arbetsledare", who: "Inloggad som",
    signout: "Logga ut från Vårdlinje", region: "Region", show: "Visa", heading: "Läget i",
    queue: "Kö", waiting: "Väntande samtal", "waiting.caption": "Väntande samtal i dirigeringens ordning",
    "waiting.none": "Inga väntande samtal.", offered: "Ringer hos en sjuksköterska",
    "offered.caption": "Samtal som ringer hos en sjuksköterska", "offered.none": "Inget samtal ringer.",
    nurses: "Sjuksköterskor", "nurses.caption": "Sjuksköterskor som svarar för regionen",
    "nurses.none": "Inga sjuksköterskor svarar för regionen.",
    "w.position": "Plats", "w.call": "Samtal", "w.priority": "Prioritet", "w.waited": "Väntat",
    "w.estimate": "Beräknad väntan", "w.step": "Dirigeringssteg", "w.missed": "Missade erbjudanden",
    "o.call": "Samtal", "o.nurse": "Sjuksköterska", "o.step": "Dirigeringssteg", "o.ringing": "Ringer sedan",
    "o.waited": "Väntat", "n.name": "Namn", "n.home": "Hemregion", "n.state": "Läge", "n.since": "Sedan",
    "n.actions": "Åtgärder",
    "q.waiting": "Väntande", "q.longest": "Längsta väntan", "q.estimate": "Beräknad väntan för ett nytt samtal",
    "q.ready": "Redo", "q.staffed": "Bemannade",
    "status.connecting": "Ansluter…", "status.live": "Live – uppdateras när något ändras",
    "status.down": "Frånkopplad – försöker igen", "status.ended": "Sessionen har upphört – logga in igen",
    "status.forbidden": "Du får inte se den här regionen", "status.stale": "Dirigeringen kan inte nås – visar senast kända läge",
    "act.ready": "Redo", "act.pause": "Paus", "act.logout": "Logga ut", "act.reason": "Orsak till paus för",
    "act.none": "Inte din personal", "act.busy": "Ändrar…",
    "login.again": "Logga in igen", via: "via", "step.none": "–",
    "announce.changed": "har nu läget", "announce.waiting": "Väntande samtal:",
    "error.network": "Kunde inte nå servern; försök igen.",
  },
  en: {
    skip: "Skip to content", title: "Supervisor view", who: "Logged in as", signout: "Log out of Vårdlinje",
    region: "Region", show: "Show", heading: "Now in", queue: "Queue", waiting: "Waiting calls",
    "waiting.caption": "Waiting calls in routing's order", "waiting.none": "No calls waiting.",
    offered: "Ringing at a nurse", "offered.caption": "Calls ringing at a nurse", "offered.none": "No call is ringing.",
    nurses: "Nurses", "nurses.caption": "Nurses answering for the region",
    "nurses.none": "No nurses answer for this region.",
    "w.position": "Place", "w.call": "Call", "w.priority": "Priority", "w.waited": "Waited",
    "w.estimate": "Estimated wait", "w.step": "Route step", "w.missed": "Missed offers",
    "o.call": "Call", "o.nurse": "Nurse", "o.step": "Route step", "o.ringing": "Ringing for", "o.waited": "Waited",
    "n.name": "Name", "n.home": "Home region", "n.state": "State", "n.since": "Since", "n.actions": "Actions",
    "q.waiting": "Waiting", "q.longest": "Longest wait", "q.estimate": "Estimated wait for a new call",
    "q.ready": "Ready", "q.staffed": "Staffed",
    "status.connecting": "Connecting…", "status.live": "Live – updated as things change",
    "status.down": "Disconnected – retrying", "status.ended": "Your session ended – please log in again",
    "status.forbidden": "You may not see this region", "status.stale": "Routing cannot be reached – showing the last known state",
    "act.ready": "Ready", "act.pause": "Pause", "act.logout": "Log out", "act.reason": "Reason for pausing",
    "act.none": "Not your staff", "act.busy": "Changing…",
    "login.again": "Log in again", via: "via", "step.none": "–",
    "announce.changed": "is now", "announce.waiting": "Waiting calls:",
    "error.network": "Could not reach the server; please try again.",
  },
};

// Route steps (routing/model.py Step) and states/reasons in English (Swedish ones come in the JSON).
const STEP = {
  sv: { own: "egen region", cover: "mötestäckning", around_the_clock: "dygnet runt", night: "natt",
        partner: "samarbetsregion", national: "nationell kö" },
  en: { own: "own region", cover: "meeting cover", around_the_clock: "around the clock", night: "night",
        partner: "partner region", national: "national queue" },
};
const STATE_EN = { logged_out: "logged out", ready: "ready", offered: "offered a call", on_call: "on a call",
                   wrap_up: "wrap-up", paused: "paused" };
const REASONS = ["break", "meeting", "training", "administration"];
const REASON = {
  sv: { break: "rast", meeting: "möte", training: "utbildning", administration: "administration", missed_offer: "missat samtal" },
  en: { break: "break", meeting: "meeting", training: "training", administration: "administration", missed_offer: "missed call" },
};
const SUPERVISOR_EVENTS = ["ready", "pause", "logout"];
const PING_MS = 25000;
const RETRY_MAX_MS = 30000;
const SESSION_ENDED = 4401;
const FORBIDDEN = 4403;

const $ = (id) => document.getElementById(id);

const ui = {
  lang: readLang(),
  region: document.body.dataset.region,
  wsPath: document.body.dataset.ws,
  view: null,        // the last region message
  offset: 0,         // server time − browser time (ms), so durations tick in the server's clock
  csrf: null,
  ws: null,
  attempt: 0,
  pinger: null,
  stopped: false,    // the session ended or access was withdrawn: no reconnecting
  status: "connecting",
};

function readLang() {
  try { return localStorage.getItem("vardlinje.lang") === "en" ? "en" : "sv"; } catch { return "sv"; }
}

function t(key) {
  return TEXT[ui.lang][key] ?? TEXT.sv[key] ?? key;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// --- time ------------------------------------------------------------------------------------------------

function serverNow() {
  return Date.now() + ui.offset;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

// A duration that ticks: either from an instant (data-since, ISO) or from seconds counted at the message.
function ticking(props) {
  const node = el("span", { class: "tick" });
  if (props.since) node.dataset.since = props.since;
  if (props.seconds !== undefined && props.seconds !== null) {
    node.dataset.seconds = String(props.seconds);
    node.dataset.at = String(ui.view ? ui.view.receivedAt : Date.now());
  }
  tick(node);
  return node;
}

function tick(node) {
  if (node.dataset.since) {
    node.textContent = duration((serverNow() - Date.parse(node.dataset.since)) / 1000);
  } else if (node.dataset.seconds !== undefined) {
    node.textContent = duration(Number(node.dataset.seconds) + (Date.now() - Number(node.dataset.at)) / 1000);
  }
}

function tickAll() {
  for (const node of document.querySelectorAll(".tick")) tick(node);
}

// --- texts -------------------------------------------------------------------------------------------------

function stepText(step) {
  return step ? (STEP[ui.lang][step] ?? step) : t("step.none");
}

function stateText(p) {
  const state = ui.lang === "en" ? (STATE_EN[p.state] ?? p.state) : p.state_sv;
  if (!p.reason) return state;
  const reason = ui.lang === "en" ? (REASON.en[p.reason] ?? p.reason) : (p.reason_sv ?? p.reason);
  return `${state} (${reason})`;
}

function nurseName(n) {
  return n.display_name || n.username || n.endpoint;
}

// "Svensk text / English text": the part for the page's language.
function localDetail(detail) {
  if (!detail) return "";
  const at = detail.indexOf(" / ");
  if (at < 0) return detail;
  return ui.lang === "en" ? detail.slice(at + 3) : detail.slice(0, at);
}

function applyLang() {
  document.documentElement.lang = ui.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  const button = $("lang");
  button.textContent = ui.lang === "sv" ? "English" : "Svenska";
  button.lang = ui.lang === "sv" ? "en" : "sv";
  button.setAttribute("aria-pressed", String(ui.lang === "en"));
  setStatus(ui.status);
  if (ui.view) render(ui.view, { quiet: true, relabel: true });
}

function setStatus(status) {
  ui.status = status;
  const node = $("status");
  node.dataset.state = status;
  node.textContent = t(`status.${status}`);
  if (status === "ended") {
    node.append(" ", el("a", { href: `/login?next=${encodeURIComponent(location.pathname + location.search)}`,
                               text: t("login.again") }));
  }
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

function announce(text) {
  const live = $("announce");
  live.textContent = "";
  // A fresh text node after a beat, so screen readers announce a repeated message again.
  setTimeout(() => { live.textContent = text; }, 50);
}

// --- rendering ---------------------------------------------------------------------------------------------

function renderQueue(q) {
  const dl = $("queue");
  dl.replaceChildren();
  const figures = [
    ["q.waiting", String(q.waiting)],
    ["q.longest", q.longest_wait_seconds === null ? "–" : ticking({ seconds: q.longest_wait_seconds })],
    ["q.estimate", duration(q.estimated_wait_seconds)],
    ["q.ready", String(q.ready)],
    ["q.staffed", String(q.staffed)],
  ];
  for (const [key, value] of figures) {
    dl.append(el("div", { class: "figure" }, el("dt", { text: t(key) }), el("dd", {}, value)));
  }
}

function stepCell(c) {
  const cell = el("td", {}, el("span", { class: "step", dataset: { step: c.step ?? "" }, text: stepText(c.step) }));
  const regions = Object.entries(c.regions || {});
  if (regions.length > 1) {
    cell.append(el("span", { class: "regions", text: regions.map(([r, s]) => `${r}: ${stepText(s)}`).join(" · ") }));
  }
  return cell;
}

// The contact's record (journal/pages.py) in a new tab, so the live view keeps running.
function callLink(callId) {
  return el("a", { href: `/calls/${encodeURIComponent(callId)}`, target: "_blank", rel: "noopener",
    text: callId.slice(0, 8), title: callId });
}

function renderWaiting(calls) {
  const body = $("waiting").tBodies[0];
  body.replaceChildren(...calls.map((c) => el("tr", { dataset: { call: c.call_id } },
    el("td", { text: c.position ?? "–" }),
    el("th", { scope: "row" }, callLink(c.call_id)),
    el("td", { text: String(c.priority) }),
    el("td", {}, ticking({ seconds: c.wait_seconds })),
    el("td", { text: duration(c.estimated_wait_seconds) }),
    stepCell(c),
    el("td", { text: String(c.missed_offers) }),
  )));
  $("waiting-empty").hidden = calls.length > 0;
  $("waiting").hidden = calls.length === 0;
}

function renderOffered(offers, nurses) {
  const names = new Map(nurses.map((n) => [n.endpoint, nurseName(n)]));
  const body = $("offered").tBodies[0];
  body.replaceChildren(...offers.map((o) => {
    const step = el("td", {}, el("span", { class: "step", dataset: { step: o.step }, text: stepText(o.step) }));
    if (o.via_region && o.via_region !== ui.view.region) step.append(` ${t("via")} ${o.via_region}`);
    return el("tr", { dataset: { call: o.call_id } },
      el("th", { scope: "row" }, callLink(o.call_id)),
      el("td", { text: names.get(o.nurse) ?? o.nurse }),
      step,
      el("td", {}, ticking({ since: o.offered_at })),
      el("td", {}, ticking({ seconds: o.wait_seconds })));
  }));
  $("offered-empty").hidden = offers.length > 0;
  $("offered").hidden = offers.length === 0;
}

// Nurse rows are kept across updates (keyed by endpoint) and their action cell too while its buttons stay the
// same: re-creating it would drop keyboard focus and the chosen pause reason every second.
function renderNurses(nurses, relabel) {
  const body = $("nurses").tBodies[0];
  const seen = new Set();
  let previous = null;
  for (const n of nurses) {
    seen.add(n.endpoint);
    let row = body.querySelector(`tr[data-endpoint="${CSS.escape(n.endpoint)}"]`);
    if (!row) {
      row = el("tr", { dataset: { endpoint: n.endpoint } },
        el("th", { scope: "row", tabindex: "-1" }), el("td"), el("td"), el("td"), el("td", { class: "actions" }));
    }
    const [name, home, state, since, actions] = row.cells;
    name.textContent = nurseName(n);
    home.textContent = n.home_region;
    const badge = el("span", { class: "state", dataset: { state: n.presence.state }, text: stateText(n.presence) });
    state.replaceChildren(badge);
    if (since.firstChild?.dataset?.since !== n.presence.since) since.replaceChildren(ticking({ since: n.presence.since }));
    const allowed = n.may_change ? n.presence.allowed.filter((e) => SUPERVISOR_EVENTS.includes(e)) : [];
    const signature = `${n.may_change}|${allowed.join(",")}|${ui.lang}`;
    if (relabel || actions.dataset.signature !== signature) {
      actions.dataset.signature = signature;
      replaceActions(actions, n, allowed);
    }
    // Move only rows out of place: moving the row that holds focus would blur it.
    const wanted = previous ? previous.nextSibling : body.firstChild;
    if (wanted !== row) body.insertBefore(row, wanted);
    previous = row;
  }
  for (const row of [...body.rows]) if (!seen.has(row.dataset.endpoint)) row.remove();
  $("nurses-empty").hidden = nurses.length > 0;
  $("nurses").hidden = nurses.length === 0;
}

function replaceActions(cell, n, allowed) {
  const focused = cell.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  const reason = cell.querySelector("select")?.value;
  cell.replaceChildren();
  if (!n.may_change) {
    cell.append(el("span", { class: "muted", text: t("act.none") }));
    return;
  }
  const name = nurseName(n);
  const button = (event, key, extra = {}) => el("button", {
    type: "button", dataset: { action: event }, text: t(key), disabled: !allowed.includes(event),
    "aria-label": `${t(key)}: ${name}`, ...extra,
  });
  const ready = button("ready", "act.ready", { class: "primary" });
  ready.addEventListener("click", () => change(n, { event: "ready" }, ready));
  const selectId = `reason-${n.endpoint}`;
  const select = el("select", { id: selectId, dataset: { action: "reason" }, disabled: !allowed.includes("pause") },
    ...REASONS.map((r) => el("option", { value: r, text: REASON[ui.lang][r] })));
  if (reason) select.value = reason;
  const pause = button("pause", "act.pause");
  pause.addEventListener("click", () => change(n, { event: "pause", reason: select.value }, pause));
  const logout = button("logout", "act.logout");
  logout.addEventListener("click", () => change(n, { event: "logout" }, logout));
  cell.append(ready,
    el("span", { class: "pause" },
      el("label", { for: selectId, class: "visually-hidden", text: `${t("act.reason")} ${name}` }), select, pause),
    logout);
  if (focused) {
    const again = cell.querySelector(`[data-action="${focused}"]:not([disabled])`)
      ?? cell.querySelector("button:not([disabled]), select:not([disabled])")
      ?? cell.closest("tr").cells[0];
    again.focus();
  }
}

function render(view, { quiet = false, relabel = false } = {}) {
  const before = ui.view;
  ui.view = view;
  renderQueue(view.queue);
  renderWaiting(view.waiting);
  renderOffered(view.offered, view.nurses);
  renderNurses(view.nurses, relabel);
  if (quiet || !before || before.region !== view.region) return;
  const said = [];
  const old = new Map(before.nurses.map((n) => [n.endpoint, n.presence]));
  for (const n of view.nurses) {
    const p = old.get(n.endpoint);
    if (p && (p.state !== n.presence.state || p.reason !== n.presence.reason)) {
      said.push(`${nurseName(n)} ${t("announce.changed")} ${stateText(n.presence)}.`);
    }
  }
  if (before.queue.waiting !== view.queue.waiting) said.push(`${t("announce.waiting")} ${view.queue.waiting}.`);
  if (said.length) announce(said.join(" "));
}

// --- changing a nurse's state -----------------------------------------------------------------------------

async function csrfToken(fresh = false) {
  if (ui.csrf && !fresh) return ui.csrf;
  const resp = await fetch("/api/v1/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (resp.status === 401) { sessionEnded(); throw new Error("unauthenticated"); }
  ui.csrf = (await resp.json()).csrf_token;
  return ui.csrf;
}

async function post(endpoint, body, fresh) {
  return fetch(`/api/v1/supervisor/nurses/${encodeURIComponent(endpoint)}/presence`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": await csrfToken(fresh) },
    body: JSON.stringify(body),
  });
}

async function change(nurse, body, button) {
  showError("");
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = t("act.busy");
  try {
    let resp = await post(nurse.endpoint, body, false);
    let answer = await resp.json().catch(() => ({}));
    if (resp.status === 403 && answer.error === "csrf_failed") {  // a new login in another tab: a new token
      resp = await post(nurse.endpoint, body, true);
      answer = await resp.json().catch(() => ({}));
    }
    if (resp.status === 401) { sessionEnded(); return; }
    if (!resp.ok) {
      showError(`${nurseName(nurse)}: ${localDetail(answer.detail) || resp.statusText}`);
      return;
    }
    announce(`${nurseName(nurse)} ${t("announce.changed")} ${stateText(answer.presence)}.`);
  } catch (err) {
    if (err.message !== "unauthenticated") showError(t("error.network"));
  } finally {
    // The WebSocket's next view re-draws the cell; until then the button is usable again.
    if (button.isConnected) {
      button.textContent = label;
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  }
}

// --- the WebSocket -----------------------------------------------------------------------------------------

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${ui.wsPath}?region=${encodeURIComponent(ui.region)}`;
}

function connect() {
  if (ui.stopped) return;
  const ws = new WebSocket(socketUrl());
  ui.ws = ws;
  ws.addEventListener("open", () => {
    ui.attempt = 0;
    clearInterval(ui.pinger);
    ui.pinger = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: "ping" })), PING_MS);
  });
  ws.addEventListener("message", (event) => {
    if (ui.ws !== ws) return;
    let msg;
    try { msg = JSON.parse(event.data); } catch { return; }
    if (msg.type === "region") {
      if (msg.at) ui.offset = Date.parse(msg.at) - Date.now();
      msg.receivedAt = Date.now();
      setStatus("live");
      render(msg);
    } else if (msg.type === "error" && msg.error === "unavailable") {
      setStatus("stale");
    } else if (msg.type === "session_ended") {
      sessionEnded();
    } else if (msg.type === "forbidden") {
      ui.stopped = true;
      setStatus("forbidden");
    }
  });
  ws.addEventListener("close", (event) => {
    if (ui.ws !== ws) return;  // replaced on purpose (another region)
    clearInterval(ui.pinger);
    ui.ws = null;
    if (event.code === SESSION_ENDED) { sessionEnded(); return; }
    if (event.code === FORBIDDEN) { ui.stopped = true; setStatus("forbidden"); return; }
    retry();
  });
}

async function retry() {
  if (ui.stopped) return;
  setStatus("down");
  ui.attempt += 1;
  if (ui.attempt > 1) {
    // A refused handshake looks like a network error to the page: ask whether the session still lives.
    try {
      const resp = await fetch("/api/v1/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (resp.status === 401) { sessionEnded(); return; }
    } catch { /* the network: keep trying */ }
  }
  // Growing, jittered delays: a restarted server is not hit by every browser in the same second.
  const base = Math.min(RETRY_MAX_MS, 1000 * 2 ** (ui.attempt - 1));
  setTimeout(connect, base / 2 + Math.random() * base / 2);
}

function sessionEnded() {
  ui.stopped = true;
  clearInterval(ui.pinger);
  if (ui.ws) { const ws = ui.ws; ui.ws = null; ws.close(1000); }
  setStatus("ended");
}

function switchRegion(region) {
  if (region === ui.region && ui.ws) return;
  ui.region = region;
  ui.view = null;
  ui.attempt = 0;
  const option = [...$("region").options].find((o) => o.value === region);
  $("region-title").textContent = option ? option.textContent : region;
  history.replaceState(null, "", `?region=${encodeURIComponent(region)}`);
  for (const id of ["waiting", "offered", "nurses"]) $(id).tBodies[0].replaceChildren();
  $("queue").replaceChildren();
  showError("");
  if (ui.ws) { const ws = ui.ws; ui.ws = null; ws.close(1000); }
  setStatus("connecting");
  connect();
}

// --- start -------------------------------------------------------------------------------------------------

$("lang").addEventListener("click", () => {
  ui.lang = ui.lang === "sv" ? "en" : "sv";
  try { localStorage.setItem("vardlinje.lang", ui.lang); } catch { /* private mode: this page only */ }
  applyLang();
});
$("picker").addEventListener("submit", (event) => {
  event.preventDefault();
  switchRegion($("region").value);
});
setInterval(tickAll, 1000);
applyLang();
connect();
csrfToken().catch(() => {});
