// The referral panel (docs/desktop.md, "Hänvisning"): the catalog's care units that fit the call — her level
// (the note's urgency), the caller's region, open now or soon enough for the level — nearest first when she
// names a municipality, narrowed by type and the patient's age. "Välj" puts a unit into her note through the
// journal's editor (journal.js: the same autosave, conflicts and crash copy as her typing); "Skicka SMS" sends
// its details to the caller's mobile (POST /api/v1/catalog/units/{id}/sms).
//
// journal.js drives it: `initReferral` once, `open(callId)` when a call's note opens, `update({...})` whenever
// the note or the call facts may have changed (cheap when nothing did), `relabel()` after a language switch.

// How soon a unit must be open, per level (the catalog's search parameters; docs/catalog.md).
const WHEN = {
  akut: { open_at: "now" },
  timmar: { open_at: "now", within_hours: "12" },
  dagar: { within_hours: "168" },
  egenvard: { within_hours: "168" },
};
const LIMIT = 10;
const ZONE = "Europe/Stockholm";
const LOCALE = { sv: "sv-SE", en: "en-GB" };

let env = {
  api: null, t: (k) => k, tl: (_lang, k) => k, lang: () => "sv", inLanguage: (s) => s,
  choose: () => false, // (code, label, text) → whether the note took it
};
const $ = (id) => document.getElementById(id);

const state = {
  callId: null,
  urgency: "",
  region: null,
  regionName: "",
  editable: false, // the note is a draft she may change
  chosen: "", // the note's referral (a unit id or a type code)
  patientAge: null, // from the note's personnummer, when there is one
  ageEdited: false, // she typed an age herself: the note's no longer overrides it
  hits: [],
  loaded: false, // the list shows the answer to `key`
  key: null, // the query the list shows (or is being fetched)
  seq: 0,
  timer: null,
};
let allTypes = []; // [{code, name, fits: [...]}], every care-unit type (rendered by the page)
const municipalities = new Map(); // region → [names]

function t(key) {
  return env.t(key);
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function show(node, text, kind) {
  node.textContent = text || "";
  node.hidden = !text;
  if (kind) node.dataset.state = kind;
  else delete node.dataset.state;
}

// -- words ----------------------------------------------------------------------------------------------------

function day(date) {
  return new Intl.DateTimeFormat("sv-SE", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(date);
}

// "17:00" today, else "fre 08:00" (Swedish time, her language's weekday).
function when(iso, lang) {
  const at = new Date(iso);
  const time = at.toLocaleTimeString("sv-SE", { timeZone: ZONE, hour: "2-digit", minute: "2-digit" });
  if (day(at) === day(new Date())) return time;
  const weekday = new Intl.DateTimeFormat(LOCALE[lang] || "sv-SE", { timeZone: ZONE, weekday: "short" }).format(at);
  return `${weekday.replace(/\.$/, "")} ${time}`;
}

/** The hit's open state in words: "öppet till 17:00", "öppnar fre 08:00", "dygnet runt". */
export function openWords(hit, lang) {
  const tl = (key) => env.tl(lang, key);
  if (hit.open === null || hit.open === undefined) return "";
  if (hit.open) return hit.closes_at ? `${tl("ref.opento")} ${when(hit.closes_at, lang)}` : tl("ref.allday");
  return hit.opens_at ? `${tl("ref.opens")} ${when(hit.opens_at, lang)}` : tl("ref.closed");
}

/** A Swedish number as people write it: +4686001000 → 08-600 10 00, +46701234567 → 070-123 45 67. */
export function phoneWords(e164) {
  const number = String(e164 || "");
  if (!number.startsWith("+46")) return number;
  const rest = number.slice(3);
  // Subscriber numbers as Swedes group them: 123 456 78, 123 45 67, 12 34 56, 123 45.
  const group = (d) => {
    if (d.length === 8) return `${d.slice(0, 3)} ${d.slice(3, 6)} ${d.slice(6)}`;
    if (d.length === 7) return `${d.slice(0, 3)} ${d.slice(3, 5)} ${d.slice(5)}`;
    if (d.length === 6) return `${d.slice(0, 2)} ${d.slice(2, 4)} ${d.slice(4)}`;
    if (d.length === 5) return `${d.slice(0, 3)} ${d.slice(3)}`;
    return d;
  };
  if (rest.startsWith("8")) return `08-${group(rest.slice(1))}`; // Stockholm
  if (/^7[0-9]/.test(rest)) return `0${rest.slice(0, 2)}-${group(rest.slice(2))}`; // mobiles
  return `0${rest}`; // other area codes are 2–4 digits long: the digits as they are
}

// Years from the date in a 12-digit personnummer or samordningsnummer (day + 60), as of today.
export function ageFrom(patientId, kind) {
  if (kind && !["personnummer", "samordningsnummer"].includes(kind)) return null;
  const digits = String(patientId || "").replace(/\D/g, "");
  if (digits.length !== 12) return null;
  const year = Number(digits.slice(0, 4));
  const month = Number(digits.slice(4, 6));
  let date = Number(digits.slice(6, 8));
  if (date > 60) date -= 60;
  if (month < 1 || month > 12 || date < 1 || date > 31) return null;
  const today = new Date();
  let age = today.getFullYear() - year;
  if (today.getMonth() + 1 < month || (today.getMonth() + 1 === month && today.getDate() < date)) age -= 1;
  return age >= 0 && age <= 130 ? age : null;
}

// What goes into the note's "Var och när" (always Swedish: the note is).
function referralText(hit) {
  const u = hit.unit;
  const place = [u.postcode, u.city].filter(Boolean).join(" ");
  const head = [u.name, [u.address, place].filter(Boolean).join(", "), u.phone ? `tel ${phoneWords(u.phone)}` : ""]
    .filter(Boolean).join(", ");
  const open = openWords(hit, "sv");
  return open ? `${head} – ${open}` : head;
}

// -- the filters ----------------------------------------------------------------------------------------------

function fillTypes() {
  const select = $("ref-type");
  const current = select.value;
  const fitting = allTypes.filter((type) => !state.urgency || type.fits.includes(state.urgency));
  const all = new Option(t("ref.alltypes"), "");
  all.dataset.i18n = "ref.alltypes";
  select.replaceChildren(all, ...fitting.map((type) => new Option(type.name, type.code)));
  select.value = fitting.some((type) => type.code === current) ? current : "";
}

async function fillMunicipalities(region) {
  const list = $("ref-municipalities");
  if (!region) { list.replaceChildren(); return; }
  if (!municipalities.has(region)) {
    try {
      const data = await env.api("GET", `/api/v1/catalog/municipalities?region=${encodeURIComponent(region)}`);
      municipalities.set(region, data.municipalities.map((m) => m.name).sort((a, b) => a.localeCompare(b, "sv")));
    } catch {
      return; // she can still type a name; the search tells her if it is unknown
    }
  }
  if (region !== state.region) return;
  list.replaceChildren(...municipalities.get(region).map((name) => new Option(name, name)));
}

function knownMunicipality(name) {
  const names = municipalities.get(state.region);
  const key = name.trim().toLocaleLowerCase("sv");
  return !names || names.some((n) => n.toLocaleLowerCase("sv") === key);
}

function query() {
  if (!state.callId || !WHEN[state.urgency]) return null;
  const params = new URLSearchParams({ urgency: state.urgency, limit: String(LIMIT), ...WHEN[state.urgency] });
  if (state.region) params.append("region", state.region);
  const municipality = $("ref-municipality").value.trim();
  if (municipality) params.set("municipality", municipality);
  const type = $("ref-type").value;
  if (type) params.append("type", type);
  const age = $("ref-age").value.trim();
  if (/^\d{1,3}$/.test(age) && Number(age) <= 130) params.set("age", age);
  return params.toString();
}

// -- the list -------------------------------------------------------------------------------------------------

function renderBasis() {
  const basis = $("referral-basis");
  if (!state.urgency) basis.textContent = t("ref.needlevel");
  else if (state.urgency === "112") basis.textContent = t("ref.call112");
  else {
    const region = state.regionName || (state.region ? `${t("ref.region")} ${state.region}` : t("ref.allregions"));
    basis.textContent = [t(`urgency.${state.urgency}`), region, t(`ref.when.${state.urgency}`)].join(" · ");
  }
}

function actionButton(label, name, act) {
  const button = el("button");
  button.type = "button";
  button.dataset.act = act;
  // The visible word and, for a screen reader going from button to button, which unit it is for.
  button.append(document.createTextNode(label), el("span", ` ${name}`, "visually-hidden"));
  return button;
}

function hitItem(hit) {
  const u = hit.unit;
  const lang = env.lang();
  const item = el("li", undefined, "unit");
  item.dataset.unit = u.id;
  const heading = el("h4", u.name);
  heading.id = `ref-unit-${u.id}`;
  if (u.id === state.chosen) {
    item.dataset.chosen = "true";
    heading.append(" ", el("span", `(${t("ref.chosenmark")})`, "chosen"));
  }
  const access = t(`ref.access.${u.access}`);
  const distance = hit.distance_km === null || hit.distance_km === undefined ? ""
    : `${hit.distance_km.toLocaleString(LOCALE[lang] || "sv-SE", { maximumFractionDigits: 1 })} km`;
  const facts = el("p", [u.type_sv, access, distance].filter(Boolean).join(" · "), "muted");
  const open = el("p", openWords(hit, lang), "open");
  open.dataset.open = hit.open ? (hit.closes_at ? "open" : "always") : "closed";
  const contact = el("p", undefined, "contact");
  if (u.phone) {
    const link = el("a", phoneWords(u.phone));
    link.href = `tel:${u.phone}`;
    contact.append(`${t("ref.tel")} `, link);
  }
  const place = [u.address, [u.postcode, u.city].filter(Boolean).join(" ")].filter(Boolean).join(", ");
  if (place) contact.append(u.phone ? " · " : "", place);
  const actions = el("div", undefined, "actions");
  const choose = actionButton(t("ref.choose"), u.name, "choose");
  choose.disabled = !state.editable;
  choose.addEventListener("click", () => chooseUnit(hit));
  const sms = actionButton(t("ref.sms"), u.name, "sms");
  sms.addEventListener("click", () => sendSms(hit, sms));
  actions.append(choose, sms);
  item.append(heading, facts, open, contact);
  if (u.note) item.append(el("p", u.note, "note-text muted"));
  item.append(actions);
  return item;
}

function renderHits() {
  const list = $("referral-hits");
  // Re-rendering replaces the buttons: give her the focus back where it was.
  const focused = document.activeElement && list.contains(document.activeElement)
    ? [document.activeElement.closest("li")?.dataset.unit, document.activeElement.dataset.act] : null;
  list.replaceChildren(...state.hits.map(hitItem));
  if (focused) list.querySelector(`li[data-unit="${CSS.escape(focused[0] || "")}"] [data-act="${focused[1]}"]`)?.focus();
}

function renderCount() {
  const status = $("referral-status");
  const n = state.hits.length;
  status.textContent = n === 0 ? t("ref.none") : n === 1 ? t("ref.one") : `${n} ${t("ref.count")}`;
  delete status.dataset.state;
}

function schedule(ms = 250) {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => search(), ms);
}

async function search(force = false) {
  clearTimeout(state.timer);
  const key = query();
  if (key === state.key && !force) return;
  state.key = key;
  const seq = ++state.seq; // a slower answer to an older query must not overwrite a newer one
  const status = $("referral-status");
  state.loaded = false;
  if (!key) {
    state.hits = [];
    renderHits();
    status.textContent = "";
    return;
  }
  status.textContent = t("ref.searching");
  try {
    const data = await env.api("GET", `/api/v1/catalog/units?${key}`);
    if (seq !== state.seq) return;
    state.hits = data.hits;
    state.loaded = true;
    renderHits();
    renderCount();
  } catch (err) {
    if (seq !== state.seq) return;
    state.key = null; // the same query may be tried again
    state.hits = [];
    renderHits();
    status.textContent = `${t("ref.failed")}: ${env.inLanguage(err.message)}`;
    status.dataset.state = "retry";
  }
}

// -- her actions ----------------------------------------------------------------------------------------------

function chooseUnit(hit) {
  const u = hit.unit;
  const result = $("referral-result");
  if (!state.editable || !env.choose(u.id, u.name, referralText(hit))) {
    show(result, t("ref.readonly"), "error");
    return;
  }
  state.chosen = u.id;
  show(result, `${t("ref.chosen")}: ${u.name}`, "ok");
  renderHits();
}

async function sendSms(hit, button) {
  const u = hit.unit;
  const result = $("referral-result");
  const callId = state.callId;
  button.disabled = true;
  show(result, `${t("ref.sending")} (${u.name})`, "busy");
  try {
    const sent = await env.api("POST", `/api/v1/catalog/units/${encodeURIComponent(u.id)}/sms`, { call_id: callId });
    if (callId !== state.callId) return;
    show(result, `${t("ref.smssent")} ${sent.to_display} – ${u.name}`, "ok");
  } catch (err) {
    if (callId !== state.callId) return;
    show(result, `${t("ref.smsfailed")}: ${env.inLanguage(err.message)}`, "error");
  } finally {
    button.disabled = false;
  }
}

// -- what journal.js calls ------------------------------------------------------------------------------------

/** A call's note opened in the panel: the referral panel starts afresh for it. */
export function open(callId) {
  if (callId === state.callId) return;
  Object.assign(state, { callId, urgency: "", region: null, regionName: "", editable: false, chosen: "",
    patientAge: null, ageEdited: false, hits: [], loaded: false, key: null });
  state.seq += 1;
  $("ref-municipality").value = "";
  $("ref-type").value = "";
  $("ref-age").value = "";
  show($("referral-result"), "");
  $("referral-status").textContent = "";
  $("referral").hidden = !callId;
  fillTypes();
  renderBasis();
  renderHits();
}

/** What the note and the call say now: {urgency, region, regionName, patientId, patientIdKind, editable,
 * chosen}. Searches again only when the query changed. */
export function update(facts) {
  if (!state.callId) return;
  const urgency = facts.urgency || "";
  const region = facts.region || null;
  let changed = false;
  if (urgency !== state.urgency) {
    state.urgency = urgency;
    fillTypes();
    changed = true;
  }
  if (region !== state.region) {
    state.region = region;
    $("ref-municipality").value = ""; // another region's municipality would rank nothing sensibly
    fillMunicipalities(region);
    changed = true;
  }
  state.regionName = facts.regionName || "";
  const age = ageFrom(facts.patientId, facts.patientIdKind);
  if (age !== state.patientAge) {
    state.patientAge = age;
    if (!state.ageEdited) {
      $("ref-age").value = age === null ? "" : String(age);
      changed = true;
    }
  }
  const rerender = Boolean(facts.editable) !== state.editable || (facts.chosen || "") !== state.chosen;
  state.editable = Boolean(facts.editable);
  state.chosen = facts.chosen || "";
  renderBasis();
  if (changed) search();
  else if (rerender) renderHits();
}

/** After a language switch. */
export function relabel() {
  if (!$("referral")) return;
  fillTypes();
  renderBasis();
  renderHits();
  if (state.loaded) renderCount();
}

export function initReferral(deps) {
  env = { ...env, ...deps };
  allTypes = [...$("ref-type").options].filter((o) => o.value)
    .map((o) => ({ code: o.value, name: o.textContent, fits: (o.dataset.fits || "").split(" ") }));
  fillTypes();
  const filters = $("referral-filters");
  filters.addEventListener("submit", (e) => e.preventDefault());
  $("ref-municipality").addEventListener("input", (e) => {
    // While she types: search once the text is a municipality of the list (or empty); the rest on change.
    const value = e.target.value.trim();
    if (!value || (municipalities.has(state.region) && knownMunicipality(value))) schedule();
  });
  $("ref-municipality").addEventListener("change", () => search());
  $("ref-type").addEventListener("change", () => search());
  // An age she types (or clears) is hers: the note's personnummer no longer overrides it.
  $("ref-age").addEventListener("input", () => {
    state.ageEdited = true;
    schedule(400);
  });
  $("ref-age").addEventListener("change", () => search());
}
