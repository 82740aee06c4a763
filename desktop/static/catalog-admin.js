// Vårdlinje: the catalog's admin page (/admin/catalog, docs/catalog.md "The admin page").
//
// The server renders the shell and the table of the region's units (catalog/pages.py); this module builds the
// edit form for one unit and talks to the catalog's API:
//   GET    /api/v1/catalog/units/{id}                  — the unit to edit;
//   PUT    /api/v1/catalog/units/{id}                  — save (the unit as JSON, hours in the written form
//                                                        "08:00-17:00"); 400 names the fields: {issues: [{field, message}]};
//   DELETE /api/v1/catalog/units/{id}                  — remove;
//   POST   /api/v1/catalog/import                      — a CSV (text/csv) or FHIR Bundle (JSON) file; 400: {problems};
//   GET    /api/v1/catalog/municipalities?region=XX    — the region's municipalities and their points.
// Mutating requests carry the session's CSRF token in X-CSRF-Token (rendered into the page's logout form;
// fetched again from GET /api/v1/me when it no longer matches). After a save, a delete or an import the table
// is read again from this page's own HTML, so what it shows is always what the server computed.
//
// No framework, no build step, no inline code (the page's Content-Security-Policy forbids it).

const TEXT = {
  sv: {
    skip: "Hoppa till innehållet", title: "Hänvisningskatalog", who: "Inloggad som",
    signout: "Logga ut från Vårdlinje", region: "Region", show: "Visa", heading: "Hänvisningskatalog för",
    tools: "Verktyg", new: "Ny enhet", "import.file": "Importera fil (.csv eller FHIR .json)", import: "Importera fil",
    "import.hint": "Allt eller inget: filen importeras bara om alla rader är rätt. Enheter med samma id ersätts.",
    "export.csv": "Exportera CSV", "export.fhir": "Exportera FHIR",
    "import.refused": "Filen importerades inte – rätta felen och försök igen",
    units: "Enheter", filter: "Sök bland enheterna (namn, kommun eller typ)", "filter.go": "Sök",
    "count.of": "av", "count.units": "enheter", "units.caption": "Regionens enheter i bokstavsordning",
    "units.none": "Inga enheter att visa.",
    "c.name": "Namn", "c.type": "Typ", "c.municipality": "Kommun", "c.access": "Besök", "c.today": "Öppet idag",
    "c.phone": "Telefon", "c.actions": "Åtgärder", edit: "Ändra",
    "h.closed": "stängt", "h.always": "dygnet runt", "h.nextday": "(nästa dag)", "h.exception": "(avvikande dag)",
    "h.holiday": "(helgdag)", "h.eve": "(afton)",
    "access.drop_in": "drop-in", "access.booked": "tidsbokning", "access.both": "drop-in och tidsbokning",
    "editor.new": "Ny enhet", "editor.edit": "Ändra enhet",
    "f.basics": "Enheten", "f.place": "Adress och plats", "f.more": "Patienter, länk och anteckning",
    "f.id": "Id", "f.id.hint": "Små bokstäver a–z, siffror och bindestreck, t.ex. 01-vc-hjorthagen. Kan inte ändras sedan.",
    "f.name": "Namn", "f.type": "Typ", "f.choose": "– välj typ –",
    "f.services": "Tjänster", "f.services.hint": "Taggar med komma emellan, t.ex. provtagning, vaccination",
    "f.accessibility": "Tillgänglighet", "f.accessibility.hint": "Taggar med komma emellan, t.ex. rullstol, horslinga, parkering",
    "f.access": "Besök", "f.phone": "Telefon", "f.address": "Gatuadress", "f.postcode": "Postnummer",
    "f.postcode.hint": "NNN NN", "f.city": "Ort", "f.municipality": "Kommun",
    "f.municipality.hint": "Välj bland regionens kommuner", "f.lat": "Latitud", "f.lon": "Longitud",
    "f.position.hint": "WGS 84 i decimalgrader, t.ex. 59.3293 och 18.0686", "f.point": "Hämta kommunens punkt",
    "f.age_min": "Lägsta ålder (år)", "f.age_max": "Högsta ålder (år)", "f.ages.hint": "Tomt = ingen gräns",
    "f.url": "Webbadress", "f.url.hint": "https://…", "f.note": "Att veta för sjuksköterskan",
    "f.hours": "Öppettider",
    "f.hours.hint": "Tider som 08:00-12:00, 13:00-17:00; tomt = stängt; 00:00-24:00 dygnet runt; 22:00-02:00+1 över midnatt.",
    "day.monday": "Måndag", "day.tuesday": "Tisdag", "day.wednesday": "Onsdag", "day.thursday": "Torsdag",
    "day.friday": "Fredag", "day.saturday": "Lördag", "day.sunday": "Söndag",
    "f.holidays": "Helgdagar", "f.eves": "Aftnar (midsommar-, jul- och nyårsafton)",
    "f.holidays-windows": "Egna tider på helgdagar", "f.eves-windows": "Egna tider på aftnar",
    "rule.closed": "stängt", "rule.sunday": "som söndag", "rule.saturday": "som lördag",
    "rule.weekly": "vanliga tider", "rule.own": "egna tider",
    "f.exceptions": "Avvikande dagar",
    "f.exceptions.hint": "En dag per rad: 2026-12-24 stängt, eller 2026-12-31 08:00-12:00",
    "f.general": "Enheten", save: "Spara", cancel: "Avbryt", delete: "Ta bort enheten", busy: "Sparar…",
    "form.errors": "Enheten sparades inte – rätta det som är markerat",
    "delete.confirm": "Ta bort {name}? Det går inte att ångra.",
    saved: "Sparad: {name}.", created: "Ny enhet sparad: {name}.", deleted: "Borttagen: {name}.",
    imported: "Importerade {units} enheter: {created} nya, {updated} ändrade.",
    "import.nofile": "Välj först en fil att importera.", "import.busy": "Importerar…",
    "error.network": "Kunde inte nå servern; försök igen.", "session.ended": "Sessionen har upphört.",
    "login.again": "Logga in igen", "load.failed": "Kunde inte hämta enheten",
    "id.bad": "Skriv ett id med små bokstäver a–z, siffror och bindestreck (2–64 tecken), t.ex. 01-vc-hjorthagen",
    "id.taken": "Det finns redan en enhet med detta id; välj ett annat",
    "exceptions.bad": "Rad {n}: skriv ett datum och tider eller stängt, t.ex. 2026-12-24 stängt",
    "exceptions.twice": "Rad {n}: datumet {day} står redan på en tidigare rad",
    "municipality.unknown": "Okänd kommun i regionen – välj en i listan",
    "point.filled": "Kommunens punkt ifylld: {lat}, {lon}.",
  },
  en: {
    skip: "Skip to content", title: "Referral catalog", who: "Logged in as", signout: "Log out of Vårdlinje",
    region: "Region", show: "Show", heading: "Referral catalog of", tools: "Tools", new: "New unit",
    "import.file": "Import a file (.csv or FHIR .json)", import: "Import file",
    "import.hint": "All or nothing: the file is imported only if every row is right. Units with the same id are replaced.",
    "export.csv": "Export CSV", "export.fhir": "Export FHIR",
    "import.refused": "The file was not imported – fix the problems and try again",
    units: "Units", filter: "Filter the units (name, municipality or type)", "filter.go": "Filter",
    "count.of": "of", "count.units": "units", "units.caption": "The region's units in alphabetical order",
    "units.none": "No units to show.",
    "c.name": "Name", "c.type": "Type", "c.municipality": "Municipality", "c.access": "Visits", "c.today": "Open today",
    "c.phone": "Phone", "c.actions": "Actions", edit: "Edit",
    "h.closed": "closed", "h.always": "round the clock", "h.nextday": "(next day)", "h.exception": "(exception day)",
    "h.holiday": "(public holiday)", "h.eve": "(eve)",
    "access.drop_in": "drop-in", "access.booked": "by appointment", "access.both": "drop-in and by appointment",
    "editor.new": "New unit", "editor.edit": "Edit unit",
    "f.basics": "The unit", "f.place": "Address and position", "f.more": "Patients, link and note",
    "f.id": "Id", "f.id.hint": "Lower-case letters a–z, digits and hyphens, e.g. 01-vc-hjorthagen. Cannot be changed later.",
    "f.name": "Name", "f.type": "Type", "f.choose": "– choose a type –",
    "f.services": "Services", "f.services.hint": "Tags separated by commas, e.g. provtagning, vaccination",
    "f.accessibility": "Accessibility", "f.accessibility.hint": "Tags separated by commas, e.g. rullstol, horslinga, parkering",
    "f.access": "Visits", "f.phone": "Phone", "f.address": "Street address", "f.postcode": "Postcode",
    "f.postcode.hint": "NNN NN", "f.city": "Town", "f.municipality": "Municipality",
    "f.municipality.hint": "Choose one of the region's municipalities", "f.lat": "Latitude", "f.lon": "Longitude",
    "f.position.hint": "WGS 84 in decimal degrees, e.g. 59.3293 and 18.0686", "f.point": "Use the municipality's point",
    "f.age_min": "Youngest patient (years)", "f.age_max": "Oldest patient (years)", "f.ages.hint": "Empty = no limit",
    "f.url": "Web address", "f.url.hint": "https://…", "f.note": "What the nurse should know",
    "f.hours": "Opening hours",
    "f.hours.hint": "Times like 08:00-12:00, 13:00-17:00; empty = closed; 00:00-24:00 round the clock; 22:00-02:00+1 past midnight.",
    "day.monday": "Monday", "day.tuesday": "Tuesday", "day.wednesday": "Wednesday", "day.thursday": "Thursday",
    "day.friday": "Friday", "day.saturday": "Saturday", "day.sunday": "Sunday",
    "f.holidays": "Public holidays", "f.eves": "Eves (Midsummer, Christmas and New Year's Eve)",
    "f.holidays-windows": "Own hours on public holidays", "f.eves-windows": "Own hours on eves",
    "rule.closed": "closed", "rule.sunday": "as Sunday", "rule.saturday": "as Saturday",
    "rule.weekly": "ordinary hours", "rule.own": "own hours",
    "f.exceptions": "Exception days",
    "f.exceptions.hint": "One day per line: 2026-12-24 stängt (closed), or 2026-12-31 08:00-12:00",
    "f.general": "The unit", save: "Save", cancel: "Cancel", delete: "Delete the unit", busy: "Saving…",
    "form.errors": "The unit was not saved – fix what is marked",
    "delete.confirm": "Delete {name}? This cannot be undone.",
    saved: "Saved: {name}.", created: "New unit saved: {name}.", deleted: "Deleted: {name}.",
    imported: "Imported {units} units: {created} new, {updated} changed.",
    "import.nofile": "Choose a file to import first.", "import.busy": "Importing…",
    "error.network": "Could not reach the server; please try again.", "session.ended": "Your session has ended.",
    "login.again": "Log in again", "load.failed": "Could not fetch the unit",
    "id.bad": "Write an id of lower-case letters a–z, digits and hyphens (2–64 characters), e.g. 01-vc-hjorthagen",
    "id.taken": "A unit with this id exists already; choose another",
    "exceptions.bad": "Line {n}: write a date and times or stängt, e.g. 2026-12-24 stängt",
    "exceptions.twice": "Line {n}: the date {day} is on an earlier line already",
    "municipality.unknown": "Unknown municipality in this region – choose one from the list",
    "point.filled": "The municipality's point filled in: {lat}, {lon}.",
  },
};

// The care-unit types (advice/urgency.py): Swedish names come from the page (data-types), English ones here.
const TYPES_EN = {
  ambulans: "Ambulance (112)", akutmottagning: "Emergency department", barnakut: "Paediatric emergency department",
  psykakut: "Psychiatric emergency unit", gynakut: "Gynaecological emergency unit", ogonakut: "Eye emergency unit",
  narakut: "Urgent care centre (närakut)", jourcentral: "Out-of-hours centre (jourcentral)",
  vardcentral: "Primary care centre (vårdcentral)", barnavardscentral: "Child health centre (BVC)",
  ungdomsmottagning: "Youth clinic", barnmorskemottagning: "Midwife clinic", tandvardsjour: "Emergency dental care",
  tandvard: "Dental clinic", giftinformation: "Poisons Information Centre", digital: "Digital care provider",
  apotek: "Pharmacy",
};
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const RULES = ["closed", "sunday", "saturday", "weekly", "own"];
const ACCESS = ["both", "drop_in", "booked"];
const UNIT_ID = /^[a-z0-9][a-z0-9-]{1,63}$/;
const CLOSED_WORDS = new Set(["", "stängt", "stängd", "closed"]);
// Fields the server may name (CareUnit) and the form's input for each; hours are named hours.weekly.monday.0 etc.
const PLAIN_FIELDS = ["id", "name", "type", "services", "accessibility", "access", "phone", "address", "postcode",
                      "city", "municipality", "lat", "lon", "age_min", "age_max", "url", "note"];

const $ = (id) => document.getElementById(id);
const data = document.body.dataset;

const ui = {
  lang: readLang(),
  region: data.region,
  types: JSON.parse(data.types || "{}"),
  csrf: document.querySelector('header input[name="csrf_token"]')?.value || null,
  municipalities: [],
  editing: null,      // the unit being edited (its JSON from the API), or null for a new one
  opener: null,       // the button that opened the editor: focus returns there
  status: null,       // () => the status line's text, in the page's language
};

for (const [code, name] of Object.entries(ui.types)) {
  TEXT.sv[`type.${code}`] = name;
  TEXT.en[`type.${code}`] = TYPES_EN[code] ?? name;
}

function readLang() {
  try { return localStorage.getItem("vardlinje.lang") === "en" ? "en" : "sv"; } catch { return "sv"; }
}

function t(key, vars = {}) {
  const text = TEXT[ui.lang][key] ?? TEXT.sv[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "i18n") { node.dataset.i18n = value; node.textContent = t(value); }
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// "Svensk text / English text" (the API's details): the part for the page's language.
function localDetail(detail) {
  if (!detail) return "";
  const at = detail.indexOf(" / ");
  if (at < 0) return detail;
  return ui.lang === "en" ? detail.slice(at + 3) : detail.slice(0, at);
}

// For matching what she types, as the server does (catalog/pages.py fold): lower case, no accents.
function fold(text) {
  return text.toLowerCase().normalize("NFKD").replace(/\p{M}/gu, "").split(/\s+/).filter(Boolean);
}

// --- language, status, errors ------------------------------------------------------------------------------

function applyLang(root = document) {
  if (root === document) {
    document.documentElement.lang = ui.lang;
    const button = $("lang");
    button.textContent = ui.lang === "sv" ? "English" : "Svenska";
    button.lang = ui.lang === "sv" ? "en" : "sv";
    button.setAttribute("aria-pressed", String(ui.lang === "en"));
    if (ui.status) $("status").textContent = ui.status();
  }
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
}

function setStatus(make) {
  ui.status = make;
  const node = $("status");
  node.hidden = !make;
  node.textContent = make ? make() : "";
}

function showError(text) {
  const node = $("error");
  node.replaceChildren();
  node.hidden = !text;
  if (text) node.append(text);
}

function sessionEnded() {
  showError("");
  const node = $("error");
  node.hidden = false;
  node.append(el("span", { i18n: "session.ended" }), " ",
              el("a", { href: `/login?next=${encodeURIComponent(location.pathname + location.search)}`,
                        i18n: "login.again" }));
}

// --- the API ------------------------------------------------------------------------------------------------

async function csrfToken(fresh = false) {
  if (ui.csrf && !fresh) return ui.csrf;
  const resp = await fetch("/api/v1/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (resp.status === 401) throw new SessionEnded();
  ui.csrf = (await resp.json()).csrf_token;
  return ui.csrf;
}

class SessionEnded extends Error {}

// A request that changes something; a stale CSRF token (a new login in another tab) is fetched again once.
async function send(method, url, { body, type } = {}) {
  const attempt = async (fresh) => fetch(url, {
    method, credentials: "same-origin", body,
    headers: { Accept: "application/json", "X-CSRF-Token": await csrfToken(fresh), ...(type ? { "Content-Type": type } : {}) },
  });
  let resp = await attempt(false);
  let answer = await resp.clone().json().catch(() => ({}));
  if (resp.status === 403 && answer.error === "csrf_failed") {
    resp = await attempt(true);
    answer = await resp.clone().json().catch(() => ({}));
  }
  if (resp.status === 401) throw new SessionEnded();
  return { resp, answer };
}

async function getJson(url) {
  const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (resp.status === 401) throw new SessionEnded();
  return { resp, answer: await resp.json().catch(() => ({})) };
}

function failed(err) {
  if (err instanceof SessionEnded) sessionEnded();
  else showError(t("error.network"));
}

// --- the table ------------------------------------------------------------------------------------------------

function rows() {
  return [...$("units").tBodies[0].rows];
}

function applyFilter() {
  const words = fold($("filter").value);
  let shown = 0;
  for (const row of rows()) {
    const haystack = row.dataset.search || "";
    row.hidden = !words.every((w) => haystack.includes(w));
    if (!row.hidden) shown += 1;
  }
  $("count-shown").textContent = String(shown);
  $("count-all").textContent = String(rows().length);
  $("units-empty").hidden = shown > 0;
}

// The table as the server renders it now (the page itself, read again): today's opening, order and all.
async function reloadTable() {
  const url = `${data.page}?region=${encodeURIComponent(ui.region)}`;
  const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (resp.redirected && new URL(resp.url).pathname === "/login") throw new SessionEnded();
  if (!resp.ok) { showError(`${resp.status} ${resp.statusText}`); return; }
  const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
  const fresh = doc.querySelector("#units tbody");
  if (!fresh) return;
  const tbody = document.importNode(fresh, true);
  $("units").tBodies[0].replaceWith(tbody);
  applyLang(tbody);
  applyFilter();
}

// --- the municipalities ---------------------------------------------------------------------------------------

async function loadMunicipalities() {
  try {
    const { resp, answer } = await getJson(`${data.municipalities}?region=${encodeURIComponent(ui.region)}`);
    if (!resp.ok) return;
    ui.municipalities = answer.municipalities || [];
    $("municipalities").replaceChildren(...ui.municipalities.map((m) => el("option", { value: m.name })));
  } catch { /* the datalist is a help; the form works without it */ }
}

function municipalityNamed(name) {
  const wanted = fold(name).join(" ");
  return ui.municipalities.find((m) => fold(m.name).join(" ") === wanted) || null;
}

// --- the form ---------------------------------------------------------------------------------------------

function hintId(name) { return `f-${name}-hint`; }

// A labelled input with its hint and its error line (filled from the server's issues).
function field(name, control, { hint, label = `f.${name}`, wide = false } = {}) {
  control.id = `f-${name}`;
  control.name = name;
  if (hint) control.setAttribute("aria-describedby", hintId(name));
  return el("div", { class: wide ? "field wide" : "field", dataset: { field: name } },
            el("label", { for: control.id, i18n: label }),
            control,
            hint ? el("p", { id: hintId(name), class: "hint", i18n: hint }) : null,
            el("p", { id: `f-${name}-error`, class: "field-error", hidden: true }));
}

function input(props = {}) {
  return el("input", { type: "text", autocomplete: "off", spellcheck: "false", ...props });
}

function select(options) {
  const node = el("select");
  for (const [value, key] of options) node.append(el("option", { value, i18n: key }));
  return node;
}

function windowsText(list) { return (list || []).join(", "); }

function ruleField(kind, rule) {
  const choice = select(RULES.map((r) => [r, `rule.${r}`]));
  const own = Array.isArray(rule);
  // A rule with neither `use` nor windows behaves as "weekly" (config.hours).
  choice.value = own ? "own" : (RULES.includes(rule) ? rule : "weekly");
  const windows = input();
  windows.value = own ? windowsText(rule) : "";
  const ownField = field(`${kind}-windows`, windows);
  ownField.hidden = !own;
  choice.addEventListener("change", () => { ownField.hidden = choice.value !== "own"; });
  return [field(kind, choice), ownField];
}

function exceptionsText(exceptions) {
  return Object.entries(exceptions || {})
    .map(([day, v]) => `${day} ${v === "closed" || (Array.isArray(v) && v.length === 0) ? "stängt" : windowsText(v)}`)
    .join("\n");
}

function buildForm(unit) {
  const isNew = unit === null;
  const u = unit || { region: ui.region, services: [], accessibility: [], access: "both", hours: { weekly: {},
    holidays: "sunday", eves: "sunday", exceptions: {} } };
  const value = (v) => (v === null || v === undefined ? "" : String(v));

  const name = input({ maxlength: "200", required: true });
  name.value = value(u.name);
  const type = select([["", "f.choose"], ...Object.keys(ui.types).map((c) => [c, `type.${c}`])]);
  type.value = value(u.type);
  const services = input();
  services.value = (u.services || []).join(", ");
  const accessibility = input();
  accessibility.value = (u.accessibility || []).join(", ");
  const access = select(ACCESS.map((a) => [a, `access.${a}`]));
  access.value = u.access || "both";
  const phone = input({ type: "tel", autocomplete: "off" });
  phone.value = value(u.phone);
  const address = input({ maxlength: "200" });
  address.value = value(u.address);
  const postcode = input({ maxlength: "6", inputmode: "numeric" });
  postcode.value = value(u.postcode);
  const city = input({ maxlength: "100" });
  city.value = value(u.city);
  const municipality = input({ list: "municipalities", required: true, maxlength: "60" });
  municipality.value = value(u.municipality);
  const lat = input({ inputmode: "decimal" });
  lat.value = value(u.lat);
  const lon = input({ inputmode: "decimal" });
  lon.value = value(u.lon);
  const point = el("button", { type: "button", id: "point", class: "secondary", i18n: "f.point" });
  point.addEventListener("click", fillPoint);
  const ageMin = input({ type: "number", min: "0", max: "130", inputmode: "numeric" });
  ageMin.value = value(u.age_min);
  const ageMax = input({ type: "number", min: "0", max: "130", inputmode: "numeric" });
  ageMax.value = value(u.age_max);
  const url = input({ type: "url", maxlength: "300" });
  url.value = value(u.url);
  const note = el("textarea", { rows: "3", maxlength: "500" });
  note.value = value(u.note);
  const exceptions = el("textarea", { rows: "3", spellcheck: "false" });
  exceptions.value = exceptionsText(u.hours?.exceptions);

  const days = WEEKDAYS.map((day) => {
    const box = input();  // no placeholder: an empty day is closed
    box.value = windowsText(u.hours?.weekly?.[day]);
    return field(day, box, { label: `day.${day}` });
  });

  let idField = null;
  if (isNew) {
    const id = input({ pattern: UNIT_ID.source.slice(1, -1), required: true, maxlength: "64" });
    id.value = `${ui.region}-`;
    idField = field("id", id, { hint: "f.id.hint" });
  }
  const heading = el("h2", { id: "editor-h", tabindex: "-1" }, el("span", { i18n: isNew ? "editor.new" : "editor.edit" }));
  if (!isNew) heading.append(" ", el("span", { text: `${u.name} (${u.id})` }));

  const form = el("form", { id: "unit-form", novalidate: true },
    el("div", { id: "form-errors", class: "error problems", role: "alert", tabindex: "-1", hidden: true },
       el("h3", { i18n: "form.errors" }), el("ul")),
    el("fieldset", {}, el("legend", { i18n: "f.basics" }),
       idField, field("name", name), field("type", type), field("access", access), field("phone", phone),
       field("services", services, { hint: "f.services.hint" }),
       field("accessibility", accessibility, { hint: "f.accessibility.hint" })),
    el("fieldset", {}, el("legend", { i18n: "f.place" }),
       field("address", address), field("postcode", postcode, { hint: "f.postcode.hint" }), field("city", city),
       field("municipality", municipality, { hint: "f.municipality.hint" }),
       field("lat", lat, { hint: "f.position.hint" }), field("lon", lon),
       el("div", { class: "field point" }, point)),
    el("fieldset", {}, el("legend", { i18n: "f.more" }),
       field("age_min", ageMin, { hint: "f.ages.hint" }), field("age_max", ageMax),
       field("url", url, { hint: "f.url.hint" }), field("note", note, { wide: true })),
    el("fieldset", { class: "hours", "aria-describedby": "f-hours-hint" }, el("legend", { i18n: "f.hours" }),
       el("p", { id: "f-hours-hint", class: "hint wide", i18n: "f.hours.hint" }),
       ...days, ...ruleField("holidays", u.hours?.holidays), ...ruleField("eves", u.hours?.eves),
       field("exceptions", exceptions, { hint: "f.exceptions.hint", wide: true })),
    el("div", { class: "actions" },
       el("button", { type: "submit", id: "save", class: "primary", i18n: "save" }),
       el("button", { type: "button", id: "cancel", i18n: "cancel" }),
       isNew ? null : el("button", { type: "button", id: "delete", class: "danger", i18n: "delete" })));
  return [heading, form];
}

function openEditor(unit, opener) {
  ui.editing = unit;
  ui.opener = opener || null;
  const section = $("editor");
  section.replaceChildren(...buildForm(unit));
  section.hidden = false;
  $("unit-form").addEventListener("submit", save);
  $("cancel").addEventListener("click", () => closeEditor(true));
  $("delete")?.addEventListener("click", remove);
  $("editor-h").focus();
}

function closeEditor(restoreFocus) {
  const section = $("editor");
  section.hidden = true;
  section.replaceChildren();
  ui.editing = null;
  if (restoreFocus && ui.opener?.isConnected) ui.opener.focus();
}

function fillPoint() {
  clearIssue("municipality");
  const found = municipalityNamed($("f-municipality").value);
  if (!found) {
    showIssues([{ field: "municipality", message: t("municipality.unknown") }], { focus: false });
    return;
  }
  $("f-municipality").value = found.name;
  $("f-lat").value = String(found.lat);
  $("f-lon").value = String(found.lon);
  clearIssue("lat");
  clearIssue("lon");
  $("announce").textContent = t("point.filled", { lat: found.lat, lon: found.lon });
}

// --- from the form to the unit's JSON ----------------------------------------------------------------------------

function windows(text) {
  return text.replace(/[–—]/g, "-").split(",").map((w) => w.trim()).filter(Boolean);
}

function tags(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

// A number as she wrote it (a decimal comma is a decimal point); not a number: sent as written, so the server
// names the field.
function number(text) {
  const s = text.trim().replace(",", ".");
  if (s === "") return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : text.trim();
}

function rule(kind) {
  const choice = $(`f-${kind}`).value;
  return choice === "own" ? windows($(`f-${kind}-windows`).value) : choice;
}

// "2026-12-24 stängt" / "2026-12-31 08:00-12:00, 13:00-15:00", one per line; problems are [{field, message}].
function exceptionsOf(text, problems) {
  const result = {};
  text.split("\n").forEach((line, i) => {
    const trimmed = line.trim();
    if (!trimmed) return;
    const match = /^(\d{4}-\d{2}-\d{2})(?:\s+(.*))?$/.exec(trimmed);
    if (!match) { problems.push({ field: "exceptions", message: t("exceptions.bad", { n: i + 1 }) }); return; }
    const [, day, rest = ""] = match;
    if (day in result) { problems.push({ field: "exceptions", message: t("exceptions.twice", { n: i + 1, day }) }); return; }
    result[day] = CLOSED_WORDS.has(rest.trim().toLowerCase()) ? "closed" : windows(rest);
  });
  return result;
}

function formUnit(problems) {
  const v = (name) => $(`f-${name}`).value;
  const weekly = {};
  for (const day of WEEKDAYS) {
    const list = windows(v(day));
    if (list.length) weekly[day] = list;
  }
  return {
    region: ui.editing ? ui.editing.region : ui.region,
    name: v("name").trim(), type: v("type"), services: tags(v("services")), accessibility: tags(v("accessibility")),
    access: v("access"), phone: v("phone").trim(), address: v("address").trim(), postcode: v("postcode").trim(),
    city: v("city").trim(), municipality: v("municipality").trim(), lat: number(v("lat")), lon: number(v("lon")),
    age_min: number(v("age_min")), age_max: number(v("age_max")), url: v("url").trim(), note: v("note").trim(),
    hours: {
      description: ui.editing?.hours?.description ?? "",
      weekly, holidays: rule("holidays"), eves: rule("eves"), exceptions: exceptionsOf(v("exceptions"), problems),
    },
  };
}

// --- the server's issues, next to the fields they name -------------------------------------------------------

// "hours.weekly.monday.0" → "monday"; "hours.holidays.windows.0" → "holidays-windows"; "(body)" → null.
function fieldOf(issue) {
  const parts = String(issue.field || "").split(".");
  if (parts[0] === "hours") {
    if (parts[1] === "weekly" && WEEKDAYS.includes(parts[2])) return parts[2];
    if (parts[1] === "holidays" || parts[1] === "eves") {
      const own = parts[2] === "windows" && !$(`f-${parts[1]}-windows`)?.closest(".field")?.hidden;
      return own ? `${parts[1]}-windows` : parts[1];
    }
    if (parts[1] === "exceptions") return "exceptions";
    return null;
  }
  if (PLAIN_FIELDS.includes(parts[0])) return parts[0];
  if (/age_max|age_min/.test(issue.message || "")) return "age_max";  // the model's check of both ages
  return null;
}

function labelOf(name) {
  if (!name) return t("f.general");
  return t(WEEKDAYS.includes(name) ? `day.${name}` : `f.${name}`);
}

function clearIssue(name) {
  const control = $(`f-${name}`);
  const error = $(`f-${name}-error`);
  if (!control || !error) return;
  error.hidden = true;
  error.textContent = "";
  control.removeAttribute("aria-invalid");
  if ($(hintId(name))) control.setAttribute("aria-describedby", hintId(name));
  else control.removeAttribute("aria-describedby");
}

function clearIssues() {
  for (const node of document.querySelectorAll("#unit-form .field-error")) clearIssue(node.id.slice(2, -6));
  const summary = $("form-errors");
  if (summary) { summary.hidden = true; summary.querySelector("ul").replaceChildren(); }
}

function showIssues(issues, { focus = true } = {}) {
  const summary = $("form-errors");
  const list = summary.querySelector("ul");
  let first = null;
  for (const issue of issues) {
    const name = fieldOf(issue);
    const control = name ? $(`f-${name}`) : null;
    const error = name ? $(`f-${name}-error`) : null;
    const where = control && error ? name : null;
    if (where) {
      error.hidden = false;
      error.textContent = error.textContent ? `${error.textContent}; ${issue.message}` : issue.message;
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", [$(hintId(name)) ? hintId(name) : null, error.id].filter(Boolean).join(" "));
      first = first || control;
    }
    const item = el("li");
    if (where) {
      const link = el("a", { href: `#f-${where}`, text: labelOf(where) });
      link.addEventListener("click", (event) => { event.preventDefault(); $(`f-${where}`).focus(); });
      item.append(link, `: ${issue.message}`);
    } else {
      item.append(`${labelOf(null)}: ${issue.message}`);
    }
    list.append(item);
  }
  if (focus) {
    summary.hidden = false;
    (first || summary).focus();
  } else if (!first) {
    summary.hidden = false;
  }
}

// --- save, delete, import ---------------------------------------------------------------------------------

async function save(event) {
  event.preventDefault();
  const button = $("save");
  if (button.disabled) return;
  showError("");
  clearIssues();
  const isNew = ui.editing === null;
  const id = isNew ? $("f-id").value.trim() : ui.editing.id;
  const problems = [];
  if (isNew && !UNIT_ID.test(id)) problems.push({ field: "id", message: t("id.bad") });
  const unit = formUnit(problems);
  if (problems.length) { showIssues(problems); return; }
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = t("busy");
  const path = `${data.units}/${encodeURIComponent(id)}`;
  try {
    if (isNew) {
      const { resp } = await getJson(path);
      if (resp.ok) { showIssues([{ field: "id", message: t("id.taken") }]); return; }
    }
    const { resp, answer } = await send("PUT", path, { body: JSON.stringify(unit), type: "application/json" });
    if (resp.status === 400 && Array.isArray(answer.issues)) { showIssues(answer.issues); return; }
    if (!resp.ok) {
      showIssues([{ field: "(body)", message: localDetail(answer.detail) || `${resp.status} ${resp.statusText}` }]);
      return;
    }
    const name = answer.name || unit.name;
    closeEditor(false);
    setStatus(() => t(isNew ? "created" : "saved", { name }));
    await reloadTable();
    const row = rows().find((r) => r.dataset.unit === id);
    (row?.querySelector("button.edit") || $("status")).focus();
  } catch (err) {
    failed(err);
  } finally {
    if (button.isConnected) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = t("save");
    }
  }
}

async function remove() {
  const unit = ui.editing;
  if (!unit || !window.confirm(t("delete.confirm", { name: unit.name }))) return;
  showError("");
  try {
    const { resp, answer } = await send("DELETE", `${data.units}/${encodeURIComponent(unit.id)}`);
    if (!resp.ok && resp.status !== 404) {
      showIssues([{ field: "(body)", message: localDetail(answer.detail) || `${resp.status} ${resp.statusText}` }]);
      return;
    }
    closeEditor(false);
    setStatus(() => t("deleted", { name: unit.name }));
    await reloadTable();
    $("new").focus();
  } catch (err) {
    failed(err);
  }
}

function showProblems(problems) {
  const box = $("import-problems");
  box.querySelector("ul").replaceChildren(...problems.map((p) => el("li", { text: p })));
  box.hidden = problems.length === 0;
  if (problems.length) box.focus();
}

async function importFile(event) {
  event.preventDefault();
  showError("");
  showProblems([]);
  const file = $("import-file").files[0];
  if (!file) { showProblems([t("import.nofile")]); return; }
  const csv = /\.csv$/i.test(file.name) || file.type === "text/csv";
  const button = $("import-button");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  setStatus(() => t("import.busy"));
  try {
    const { resp, answer } = await send("POST", data.import, { body: file, type: csv ? "text/csv" : "application/json" });
    if (!resp.ok) {
      setStatus(null);
      const problems = Array.isArray(answer.problems) && answer.problems.length ? answer.problems
        : [localDetail(answer.detail) || `${resp.status} ${resp.statusText}`];
      showProblems(problems);
      return;
    }
    $("import").reset();
    setStatus(() => t("imported", answer));
    await reloadTable();
  } catch (err) {
    setStatus(null);
    failed(err);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

async function edit(button) {
  showError("");
  try {
    const { resp, answer } = await getJson(`${data.units}/${encodeURIComponent(button.dataset.edit)}`);
    if (!resp.ok) { showError(`${t("load.failed")}: ${localDetail(answer.detail) || resp.statusText}`); return; }
    openEditor(answer, button);
  } catch (err) {
    failed(err);
  }
}

// --- start ----------------------------------------------------------------------------------------------------

$("lang").addEventListener("click", () => {
  ui.lang = ui.lang === "sv" ? "en" : "sv";
  try { localStorage.setItem("vardlinje.lang", ui.lang); } catch { /* private mode: this page only */ }
  applyLang();
});
$("new").addEventListener("click", (event) => openEditor(null, event.currentTarget));
$("units").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-edit]");
  if (button) edit(button);
});
$("import").addEventListener("submit", importFile);
$("filter").addEventListener("input", () => {
  applyFilter();
  const q = $("filter").value.trim();
  history.replaceState(null, "", `?region=${encodeURIComponent(ui.region)}${q ? `&q=${encodeURIComponent(q)}` : ""}`);
});
$("filter-form").addEventListener("submit", (event) => { event.preventDefault(); applyFilter(); });
applyLang();
applyFilter();
loadMunicipalities();
