// The call's phases and the journal note (docs/desktop.md, "Phases and the journal note").
//
// desktop.js owns the page and calls in here: `initJournal` once, `follow(callId, state)` whenever her
// presence changes (the call she is on or wrapping up, or null), `assessed()` after she chose a level in the
// advice panel, `relabel()` after a language switch, `callFacts()` when the call's facts arrive. Everything she
// types is autosaved; what the server has not confirmed yet is also kept in sessionStorage, so a reload, a
// crash or a dropped network loses nothing. The referral panel (referral.js) follows the note from here, and
// a unit she chooses there enters the note through the same editor as her typing.
import * as referral from "/static/referral.js";

const DEBOUNCE_MS = 800; // after the last keystroke: a save per pause, not per character
const MAX_RETRY_S = 30;
const OPEN_ATTEMPTS = 6; // the answer reaches the call record a moment after routing says "on call"
const CALL_KEY = "vardlinje.journal.call";
const BACKUP_PREFIX = "vardlinje.journal.note.";
const PATIENT_FIELDS = ["patient_id", "patient_id_kind"];
// What a 422 "incomplete" names, in her words (the i18n key of the field's label).
const FIELD_LABEL = {
  caller_relation: "j.caller_relation", patient_id_kind: "j.patient_id_kind", patient_id: "j.patient_id",
  urgency: "j.urgency", advice: "j.advice_or_text", text: "journal.amendment.text",
};

let env = {
  api: null, t: (k) => k, tl: (_lang, k) => k, announce: () => {}, showError: () => {}, me: () => null,
  onContact: () => {}, callFacts: () => null, onNote: () => {},
};
const $ = (id) => document.getElementById(id);

const state = {
  callId: null, // the call whose note the panel shows (it stays after the call until the next one)
  live: false, // she is on that call or wrapping it up: the phases bar shows
  contact: null, // GET /api/v1/calls/{id}: the phase plan and the phases started
  note: null, // the note as the server last sent it
  editor: null, // the draft's NoteEditor (null once signed)
  amendment: null, // the draft amendment's NoteEditor
  amendments: [], // the signed amendments, shown under the signed note
  assessment: null, // her latest assessment of the call: {call_id, contact_reason, title, document_id, urgency}
  units: null, // the care units of the chosen level, or null: all types
  seq: 0, // a slower open of an earlier call must not fill the panel of a later one
};

// -- small helpers ------------------------------------------------------------------------------------------

function t(key) {
  return env.t(key);
}

function hhmm(iso) {
  return iso ? new Date(iso).toLocaleTimeString("sv-SE", { hour: "2-digit", minute: "2-digit" }) : "";
}

function hhmmss(iso) {
  return iso ? new Date(iso).toLocaleTimeString("sv-SE") : "";
}

function same(a, b) {
  return (a === undefined ? null : a) === (b === undefined ? null : b);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The server's messages are "Svenska / English": show the half in her language.
function inLanguage(detail) {
  const text = String(detail || "");
  const cut = text.indexOf(" / ");
  if (cut < 0) return text;
  return document.documentElement.lang === "en" ? text.slice(cut + 3) : text.slice(0, cut);
}

function show(el, text) {
  el.textContent = text || "";
  el.hidden = !text;
}

// -- field adapters: each gives and takes the value in the API's shape ---------------------------------------

function textField(el) {
  return { el, get: () => el.value, set: (v) => { if (el.value !== (v ?? "")) el.value = v ?? ""; } };
}

// A select whose empty choice is null in the API (caller_relation, patient_id_kind).
function choiceField(el) {
  return { el, get: () => el.value || null, set: (v) => { el.value = v ?? ""; } };
}

// The referral: "" is "no referral", else a care-unit type code or a catalog unit's id (chosen in the referral
// panel). A stored value outside the current list gets an option — a unit by its name — so it never silently
// disappears from what she sees.
const referralLabels = new Map(); // unit id → name
function referralField(el) {
  return {
    el, get: () => el.value,
    set: (v) => {
      if (v && ![...el.options].some((o) => o.value === v)) {
        const option = new Option(referralLabels.get(v) || v, v);
        el.append(option);
        if (!referralLabels.has(v) && !allUnits.some(([code]) => code === v)) unitName(v, option);
      }
      el.value = v ?? "";
    },
  };
}

// A unit id stored in the note (after a reload): its name from the catalog, when it still has the unit.
async function unitName(id, option) {
  try {
    const unit = await env.api("GET", `/api/v1/catalog/units/${encodeURIComponent(id)}`);
    referralLabels.set(id, unit.name);
    option.textContent = unit.name;
  } catch {
    // Gone from the catalog, or no catalog here: the id stays, which is what the note holds.
  }
}

// Consent is yes, no or not asked yet (null); a checkbox alone has only two states, so the third is kept
// in data-state until she ticks or unticks it.
function consentField(el) {
  return {
    el,
    get: () => (el.dataset.state === "" || el.dataset.state === undefined ? null : el.checked),
    set: (v) => { el.checked = v === true; el.dataset.state = v === null || v === undefined ? "" : String(v); },
  };
}

// Filled from her assessment, never typed: the value lives here and is shown as text.
function shownField(render) {
  let value = "";
  return { el: null, get: () => value, set: (v) => { value = v ?? ""; render(); } };
}

// -- the autosaving editor of one note ---------------------------------------------------------------------

// One draft (a note or an amendment): sends the fields changed since the revision it holds, merges what the
// server answers, retries what failed, and keeps her unconfirmed text in sessionStorage.
class NoteEditor {
  constructor(note, fields, view) {
    this.id = note.id;
    this.fields = fields; // name → adapter
    this.view = view; // {status, notice, problems, onSigned, onSignedElsewhere, onPatientError, onNote}
    this.timer = null;
    this.inflight = null; // the save in progress
    this.again = false; // something to send once it is done
    this.failures = 0;
    this.held = new Set(); // fields the server refused (a bad patient id): not sent until she edits them
    this.blocked = ""; // a refusal that sending the same again would repeat: wait for her next edit
    this.stopped = false;
    this.signing = false; // her sign request is out: the notice of her own signature is not "elsewhere"
    this.sends = 0; // saves sent so far: a read that a save overtook is dropped
    this.statusKind = "saved";
    this.note = note;
    this.revision = note.revision;
    this.saved = { ...note.content };
    for (const [name, field] of Object.entries(fields)) field.set(this.saved[name]);
    this.renderStatus();
  }

  get key() {
    return BACKUP_PREFIX + this.id;
  }

  dirty() {
    return Object.keys(this.fields).filter((name) => !same(this.fields[name].get(), this.saved[name]));
  }

  // She changed `name`: keep a copy, save after a pause.
  edited(name) {
    if (this.stopped) return;
    if (PATIENT_FIELDS.includes(name) && this.held.size) {
      this.held.clear();
      this.view.onPatientError?.("");
    }
    this.blocked = "";
    this.backup();
    this.schedule(DEBOUNCE_MS);
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), ms);
  }

  save() {
    clearTimeout(this.timer);
    if (this.stopped || this.blocked) return Promise.resolve();
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    const changes = {};
    for (const name of this.dirty()) if (!this.held.has(name)) changes[name] = this.fields[name].get();
    if (!Object.keys(changes).length) {
      this.setStatus(this.failures ? "retry" : "saved");
      return Promise.resolve();
    }
    this.inflight = this.send(changes).finally(() => {
      this.inflight = null;
      if (this.again) {
        this.again = false;
        this.save();
      }
    });
    return this.inflight;
  }

  async send(changes) {
    this.sends += 1;
    this.setStatus("saving");
    try {
      const note = await env.api("PATCH", `/api/v1/journal/notes/${encodeURIComponent(this.id)}`,
        { base_revision: this.revision, changes });
      this.failures = 0;
      this.adopt(note, changes);
      this.setStatus("saved");
    } catch (err) {
      this.failed(err, changes);
    }
  }

  // The server's note becomes the base. A field she has not touched since it was sent (or at all) shows the
  // server's value — normalised (the patient id's 12 digits) or saved by another tab; a field she changed
  // meanwhile keeps her text, still to be sent.
  adopt(note, sent) {
    if (this.stopped) return; // retired: the form shows another note now
    // An older note than the tab holds (a read that was overtaken by a save): never a step back.
    if (note.revision < this.revision) return;
    const before = this.saved;
    this.note = note;
    this.revision = note.revision;
    this.saved = { ...note.content };
    for (const [name, field] of Object.entries(this.fields)) {
      const local = field.get();
      const untouched = name in sent ? same(local, sent[name]) : same(local, before[name]);
      if (untouched && !same(local, this.saved[name])) field.set(this.saved[name]);
    }
    this.backup();
    this.view.onNote?.(note);
  }

  failed(err, changes) {
    if (this.stopped) return;
    const code = err.code;
    if (code === "edit_conflict" && err.data && err.data.current) {
      // Another tab saved the same field: take its note as the base and send hers again on top of it.
      this.adopt(err.data.current, {});
      show(this.view.notice, t("journal.conflict"));
      this.again = true;
      return;
    }
    if (code === "bad_patient_id" && PATIENT_FIELDS.some((f) => f in changes)) {
      // Only the identity is wrong: hold it back until she corrects it, and save everything else now.
      for (const f of PATIENT_FIELDS) this.held.add(f);
      this.view.onPatientError?.(err.message);
      this.again = true;
      return;
    }
    if (code === "note_signed") {
      this.stop();
      this.view.onSignedElsewhere?.();
      return;
    }
    if (code === "bad_revision") {
      this.refresh().then(() => this.save(), () => this.retryLater());
      return;
    }
    if (err.status >= 400 && err.status < 500 && ![401, 408, 429].includes(err.status)) {
      this.blocked = err.message; // the same request would be refused again
      this.setStatus("blocked");
      return;
    }
    this.retryLater(); // the network, the server or her session: her text waits in sessionStorage
  }

  retryLater() {
    this.failures += 1;
    const seconds = Math.min(MAX_RETRY_S, 2 ** (this.failures - 1));
    this.setStatus("retry");
    this.schedule(seconds * 1000);
  }

  // The note as the server has it now (after a refusal that carried no note).
  async refresh() {
    const sends = this.sends;
    const note = await env.api("GET", `/api/v1/journal/notes/${encodeURIComponent(this.id)}`);
    // A save sent meanwhile answers with a newer note (hers included): this read is older news.
    if (sends === this.sends && !this.inflight) this.adopt(note, {});
    return note;
  }

  backup() {
    try {
      const dirty = this.dirty();
      if (!dirty.length || this.stopped) {
        sessionStorage.removeItem(this.key);
        return;
      }
      const local = {};
      const base = {};
      for (const name of dirty) {
        local[name] = this.fields[name].get();
        base[name] = this.saved[name];
      }
      sessionStorage.setItem(this.key, JSON.stringify({ revision: this.revision, at: Date.now(), local, base }));
    } catch {
      // Storage full or off: the autosave still runs; only the crash copy is missing.
    }
  }

  // After a reload: her text the server never confirmed comes back, unless the server holds a newer text of
  // that field (saved in another tab after hers was typed). Returns whether anything came back.
  restore() {
    let kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(this.key) || "null"); } catch { kept = null; }
    if (!kept || typeof kept.local !== "object") return false;
    const serverAt = Date.parse(this.note.updated_at) || 0;
    let restored = false;
    for (const [name, mine] of Object.entries(kept.local)) {
      const field = this.fields[name];
      if (!field || same(this.saved[name], mine)) continue;
      const movedOn = kept.revision < this.revision && !same(this.saved[name], (kept.base || {})[name]);
      if (movedOn && serverAt > kept.at) continue;
      field.set(mine);
      restored = true;
    }
    if (restored) {
      show(this.view.notice, t("journal.restored"));
      this.save();
    } else {
      this.backup();
    }
    return restored;
  }

  // Everything saved, or false if something cannot be (a held-back or refused field, the network down).
  async settle() {
    for (let round = 0; round < 6; round += 1) {
      clearTimeout(this.timer);
      if (this.inflight) {
        await this.inflight;
        continue;
      }
      const pending = this.dirty();
      if (!pending.length) return true;
      if (this.blocked || pending.some((name) => this.held.has(name))) return false;
      await this.save();
      if (this.failures) return false;
    }
    return !this.dirty().length;
  }

  async sign() {
    show(this.view.problems, "");
    if (!(await this.settle())) {
      show(this.view.problems, t("journal.unsaved"));
      return;
    }
    this.signing = true;
    try {
      const note = await env.api("POST", `/api/v1/journal/notes/${encodeURIComponent(this.id)}/sign`,
        { revision: this.revision });
      this.stop();
      this.note = note;
      this.view.onSigned?.(note);
    } catch (err) {
      if (err.code === "incomplete") {
        show(this.view.problems, `${t("journal.missing")}: ${missingNames(err.data?.missing, this.note).join(", ")}`);
      } else if (err.code === "edit_conflict") {
        // Saved in another tab since she looked: show her what is there now, and let her sign that.
        if (err.data?.current) this.adopt(err.data.current, {});
        else await this.refresh().catch(() => {});
        show(this.view.problems, t("journal.signconflict"));
      } else if (err.code === "note_signed") {
        this.stop();
        this.view.onSignedElsewhere?.();
      } else {
        show(this.view.problems, inLanguage(err.message));
      }
    } finally {
      this.signing = false;
    }
  }

  stop() {
    clearTimeout(this.timer);
    this.stopped = true;
    try { sessionStorage.removeItem(this.key); } catch { /* nothing kept */ }
  }

  // Another note takes the form (she answered the next call): send what is still unsaved once, without
  // touching the form again. If that fails, the copy in sessionStorage brings it back when this note is
  // opened again.
  retire() {
    clearTimeout(this.timer);
    const changes = {};
    for (const name of this.dirty()) changes[name] = this.fields[name].get();
    this.stopped = true;
    if (!Object.keys(changes).length) return;
    env.api("PATCH", `/api/v1/journal/notes/${encodeURIComponent(this.id)}`, { base_revision: this.revision, changes })
      .then(() => { try { sessionStorage.removeItem(this.key); } catch { /* nothing kept */ } }, () => {});
  }

  setStatus(kind) {
    this.statusKind = kind;
    this.renderStatus();
  }

  renderStatus() {
    if (this.stopped) return;
    const el = this.view.status;
    const kind = this.statusKind;
    if (kind === "saving") el.textContent = t("journal.saving");
    else if (kind === "retry") el.textContent = t("journal.retry");
    else if (kind === "blocked") el.textContent = `${t("journal.notsaved")}: ${inLanguage(this.blocked)}`;
    else {
      const held = this.dirty().some((name) => this.held.has(name));
      el.textContent = `${t("journal.saved")} ${hhmmss(this.note.updated_at)}${held ? ` – ${t("journal.heldback")}` : ""}`;
    }
    el.dataset.state = kind;
  }
}

// The fields a 422 lists (`missing`), in her words.
function missingNames(missing, note) {
  const names = Array.isArray(missing) && missing.length ? missing : note.missing_to_sign || [];
  return names.map((f) => t(FIELD_LABEL[f] || f));
}

// -- the note panel ----------------------------------------------------------------------------------------

const noteFields = {};

function buildFields() {
  Object.assign(noteFields, {
    caller_relation: choiceField($("j-caller_relation")),
    caller_name: textField($("j-caller_name")),
    consent: consentField($("j-consent")),
    patient_id_kind: choiceField($("j-patient_id_kind")),
    patient_id: textField($("j-patient_id")),
    patient_name: textField($("j-patient_name")),
    contact_reason: shownField(renderAssessment),
    document_id: shownField(renderAssessment),
    urgency: shownField(renderAssessment),
    advice: textField($("j-advice")),
    referral: referralField($("j-referral")),
    referral_text: textField($("j-referral_text")),
    text: textField($("j-text")),
  });
}

const noteView = {
  status: null, notice: null, problems: null,
  onSigned: (note) => {
    state.editor = null; state.note = note; renderSigned(); env.announce(signedLine(note)); env.onNote(note);
  },
  onSignedElsewhere: () => { reloadSigned(t("journal.signedelsewhere")); },
  onPatientError: (message) => showPatientError(message),
  onNote: (note) => { state.note = note; tellReferral(); env.onNote(note); },
};

function showPatientError(message) {
  const input = $("j-patient_id");
  const box = $("j-patient_id-error");
  show(box, inLanguage(message));
  box.dataset.detail = message || "";
  if (message) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "j-patient_id-error j-patient_id-hint");
  } else {
    input.removeAttribute("aria-invalid");
    input.setAttribute("aria-describedby", "j-patient_id-hint");
  }
}

// Contact reason and urgency, as read-only text: the document's title when known, else the id.
function renderAssessment() {
  const reason = noteFields.contact_reason ? noteFields.contact_reason.get() : "";
  const urgency = noteFields.urgency ? noteFields.urgency.get() : "";
  const known = [state.assessment, ...((state.contact && state.contact.assessments) || []).slice().reverse()]
    .find((a) => a && a.contact_reason === reason && a.title);
  $("j-contact_reason").textContent = reason ? (known ? known.title : reason) : t("none");
  $("j-urgency").textContent = urgency ? t(`urgency.${urgency}`) : t("none");
  tellReferral();
}

// -- the referral panel ------------------------------------------------------------------------------------

// The caller's region: the call record's (the caller's), else the queue's that routing gave the desktop.
function callRegion() {
  const facts = env.callFacts();
  const mine = facts && facts.call_id === state.callId ? facts : null;
  const contact = state.contact && state.contact.id === state.callId ? state.contact : null;
  const region = (mine && mine.caller_region) || (contact && contact.region) || (mine && mine.region) || null;
  const name = mine && region === mine.caller_region ? mine.caller_region_name
    : mine && region === mine.region ? mine.region_name : "";
  return { region, regionName: name || "" };
}

// What the referral panel filters by: the note's urgency (or her assessment of this call, before the note has
// it), the caller's region, the patient's age from the note's identity; whether the note may still change.
function tellReferral() {
  if (!state.callId || !noteFields.urgency) return;
  const assessed = state.assessment && state.assessment.call_id === state.callId ? state.assessment.urgency : "";
  referral.update({
    urgency: noteFields.urgency.get() || assessed || "",
    ...callRegion(),
    patientId: noteFields.patient_id.get(),
    patientIdKind: noteFields.patient_id_kind.get(),
    editable: Boolean(state.editor && !state.editor.stopped),
    chosen: noteFields.referral.get(),
  });
}

// "Välj" in the referral panel: the unit and where/when into the note, saved at once like any choice of hers.
function chooseReferral(id, name, text) {
  const editor = state.editor;
  if (!editor || editor.stopped) return false;
  referralLabels.set(id, name);
  noteFields.referral.set(id);
  noteFields.referral_text.set(text);
  editor.edited("referral");
  editor.save();
  return true;
}

// The referral choices: the chosen level's care units, else every type (rendered by the page).
let allUnits = [];
function fillReferral() {
  const select = $("j-referral");
  const current = select.value;
  const units = state.units ? state.units.map((u) => [u.code, u.name_sv]) : allUnits;
  const none = new Option(t("j.noreferral"), "");
  none.dataset.i18n = "j.noreferral";
  select.replaceChildren(none, ...units.map(([code, name]) => new Option(name, code)));
  noteFields.referral.set(current);
}

// The care units of her level, after a reload: the document and level the note already names.
async function loadUnits(content) {
  if (state.units || !content.document_id || !content.urgency) return;
  try {
    const doc = await env.api("GET", `/api/v1/advice/documents/${encodeURIComponent(content.document_id)}`);
    const level = doc.levels.find((l) => l.urgency === content.urgency);
    if (!state.assessment) {
      state.assessment = { call_id: state.callId, contact_reason: doc.contact_reason, title: doc.title,
        document_id: doc.id, urgency: content.urgency };
    }
    if (level) {
      state.units = level.care_units;
      fillReferral();
    }
    renderAssessment();
  } catch {
    // Every type stays offered: the choice is still possible, only wider.
  }
}

function setReadOnly(readOnly) {
  for (const el of $("journal-form").elements) {
    if (el.tagName === "BUTTON") continue;
    if (el.tagName === "SELECT" || el.type === "checkbox") el.disabled = readOnly;
    else el.readOnly = readOnly;
  }
  $("journal-sign").hidden = readOnly;
}

function signedLine(note) {
  return `${t("journal.signedat")} ${hhmm(note.signed_at)} ${t("by")} ${note.author.name || note.author.username}`;
}

function renderSigned() {
  const note = state.note;
  const signed = Boolean(note && note.status === "signed");
  setReadOnly(signed);
  show($("journal-signed"), signed ? signedLine(note) : "");
  if (signed) {
    $("journal-status").textContent = "";
    show($("journal-problems"), "");
  }
  $("journal-amend").hidden = !signed || Boolean(state.amendment);
  const list = $("journal-amendments");
  list.replaceChildren(...state.amendments.map((a) => {
    const item = document.createElement("li");
    const head = document.createElement("p");
    head.className = "muted";
    head.textContent = `${t("journal.amendmentsigned")} ${hhmm(a.signed_at)} ${t("by")} ${a.author.name || a.author.username}`;
    const body = document.createElement("p");
    body.className = "amendment-text";
    body.textContent = a.content.text;
    item.append(head, body);
    return item;
  }));
  list.hidden = !state.amendments.length;
  tellReferral();
}

// The note was signed elsewhere (another tab): show it as signed, with its amendments.
async function reloadSigned(notice) {
  const seq = state.seq;
  try {
    const note = await env.api("GET", `/api/v1/journal/notes/${encodeURIComponent(state.note.id)}`);
    if (seq !== state.seq) return; // she is on the next call's note by now
    state.note = note;
    env.onNote(note);
    state.amendments = note.amendments || [];
    fillFields(note.content);
  } catch (err) {
    env.showError(err.message);
  }
  state.editor = null;
  show($("journal-notice"), notice || "");
  renderSigned();
}

function fillFields(content) {
  for (const [name, field] of Object.entries(noteFields)) field.set(content[name]);
}

// -- amendments --------------------------------------------------------------------------------------------

const amendmentView = {
  status: null, notice: null, problems: null,
  onSigned: (note) => {
    state.amendment = null;
    state.amendments.push(note);
    $("amendment-form").hidden = true;
    $("a-text").value = "";
    renderSigned();
    env.announce(t("journal.amendmentsigned"));
  },
  onSignedElsewhere: () => {
    state.amendment = null;
    $("amendment-form").hidden = true;
    reloadSigned(t("journal.signedelsewhere"));
  },
};

function openAmendmentEditor(draft) {
  if (state.amendment) state.amendment.retire();
  show($("amendment-notice"), "");
  show($("amendment-problems"), "");
  state.amendment = new NoteEditor(draft, { text: textField($("a-text")) }, amendmentView);
  state.amendment.restore();
  $("amendment-form").hidden = false;
  $("journal-amend").hidden = true;
}

async function writeAmendment() {
  if (!state.note) return;
  try {
    const draft = await env.api("POST", `/api/v1/journal/notes/${encodeURIComponent(state.note.id)}/amendments`);
    openAmendmentEditor(draft);
    $("a-text").focus();
  } catch (err) {
    env.showError(inLanguage(err.message));
  }
}

// After a reload: her draft amendment of this note, if she had begun one.
async function resumeAmendment(note) {
  const me = env.me();
  const draft = ((state.contact && state.contact.notes) || []).find((n) => n.amends_note_id === note.id
    && n.status === "draft" && me && n.author_user_id === me.user_id);
  if (!draft) return;
  try {
    openAmendmentEditor(await env.api("GET", `/api/v1/journal/notes/${encodeURIComponent(draft.id)}`));
  } catch {
    // The draft stays on the server (and her unsent text in this tab); the next reload tries again.
  }
}

// -- the phases bar ----------------------------------------------------------------------------------------

function renderPhases() {
  const nav = $("phases");
  const contact = state.contact;
  nav.hidden = !(state.live && contact && contact.id === state.callId);
  if (nav.hidden) return;
  const starts = contact.phases || [];
  const current = starts.length ? starts[starts.length - 1].phase : null;
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.phase : undefined;
  $("phase-list").replaceChildren(...contact.phase_plan.map((phase) => {
    const last = starts.slice().reverse().find((s) => s.phase === phase.id);
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.phase = phase.id;
    button.title = phase.hint || "";
    button.setAttribute("aria-pressed", String(phase.id === current));
    button.append(document.createTextNode(phase.name));
    if (last) {
      const time = document.createElement("time");
      time.dateTime = last.at;
      time.textContent = hhmm(last.at);
      button.append(" ", time);
    }
    button.addEventListener("click", () => startPhase(phase.id));
    const item = document.createElement("li");
    item.append(button);
    return item;
  }));
  // Re-rendering replaced the button she pressed: give her the focus back where it was.
  if (focused) $("phase-list").querySelector(`[data-phase="${CSS.escape(focused)}"]`)?.focus();
}

async function startPhase(id) {
  const callId = state.callId;
  try {
    const started = await env.api("POST", `/api/v1/calls/${encodeURIComponent(callId)}/phases`, { phase: id });
    if (!state.contact || state.contact.id !== callId) return;
    state.contact.phases = [...(state.contact.phases || []), started];
    renderPhases();
    env.announce(`${started.name} ${hhmm(started.at)}`);
  } catch (err) {
    env.showError(inLanguage(err.message));
  }
}

// -- opening a call's note ---------------------------------------------------------------------------------

// The journal's answers to her note and the phases wait for the call record to name her as the one who
// answered; routing tells the desktop a moment earlier. So a "not your call" right after answering is
// retried a few times.
async function patiently(request) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await request();
    } catch (err) {
      if (attempt >= OPEN_ATTEMPTS || !["not_your_call", "forbidden"].includes(err.code)) throw err;
      await sleep(250 * 2 ** attempt);
    }
  }
}

function clearPanel() {
  if (state.editor) state.editor.retire();
  if (state.amendment) state.amendment.retire();
  Object.assign(state, { note: null, editor: null, amendment: null, amendments: [], units: null, contact: null });
  env.onNote(null);
  if (state.assessment && state.assessment.call_id !== state.callId) state.assessment = null;
  for (const id of ["journal-notice", "journal-problems", "journal-signed", "amendment-notice", "amendment-problems"]) {
    show($(id), "");
  }
  showPatientError("");
  $("amendment-form").hidden = true;
  $("journal-amend").hidden = true;
  $("journal-amendments").hidden = true;
  fillReferral();
  fillFields({});
  setReadOnly(false);
}

async function open(callId, answeredNow) {
  const seq = ++state.seq;
  state.callId = callId;
  try { sessionStorage.setItem(CALL_KEY, callId); } catch { /* the panel just won't come back after a reload */ }
  referral.open(callId);
  clearPanel();
  $("journal").hidden = false;
  $("journal-status").textContent = t("journal.opening");
  try {
    const note = await patiently(() => env.api("POST", "/api/v1/journal/notes", { call_id: callId }));
    if (seq !== state.seq) return;
    const contact = await patiently(() => env.api("GET", `/api/v1/calls/${encodeURIComponent(callId)}`));
    if (seq !== state.seq) return;
    state.contact = contact;
    env.onContact(contact);
    renderPhases();
    tellReferral();
    if (answeredNow && !(contact.phases || []).length && contact.phase_plan.length) {
      await startPhase(contact.phase_plan[0].id); // "Inledning" begins when she answers
    }
    if (seq !== state.seq) return;
    await showNote(note);
  } catch (err) {
    if (seq !== state.seq) return;
    $("journal-status").textContent = `${t("journal.openfailed")}: ${inLanguage(err.message)}`;
  }
}

async function showNote(note) {
  state.note = note;
  env.onNote(note);
  if (note.status === "signed") {
    await reloadSigned("");
    await resumeAmendment(note);
    return;
  }
  state.editor = new NoteEditor(note, noteFields, noteView);
  renderSigned();
  state.editor.restore();
  const a = state.assessment;
  if (a && a.call_id === note.call_id) applyAssessment(a); // she chose a level before the note was open
  loadUnits(note.content);
}

function applyAssessment(a) {
  const editor = state.editor;
  if (!editor) return;
  const values = { contact_reason: a.contact_reason, document_id: a.document_id, urgency: a.urgency };
  const changed = Object.entries(values).filter(([name, value]) => !same(noteFields[name].get(), value));
  for (const [name, value] of changed) noteFields[name].set(value);
  if (changed.length) {
    editor.backup();
    editor.save(); // a choice, not typing: no reason to wait
  }
}

// -- what desktop.js calls ---------------------------------------------------------------------------------

/** The call she is on or wrapping up (`callId`, with her presence state), or null when she has none. */
export function follow(callId, presenceState) {
  if (callId && callId !== state.callId) {
    state.live = true;
    open(callId, presenceState === "on_call");
    return;
  }
  state.live = Boolean(callId) && callId === state.callId;
  renderPhases();
}

/** Another tab of hers saved or signed a note (`{note_id, revision, status, amends_note_id}` over the desktop
 *  socket): the panel shows it now instead of at its own next save. Her unsent typing stays on top (the
 *  editor's merge); a notice for a revision this tab already has — its own save — changes nothing. */
export function noteSaved(m) {
  for (const editor of [state.editor, state.amendment]) {
    if (!editor || editor.id !== m.note_id) continue;
    if (editor.stopped || editor.signing || m.revision <= editor.revision) return; // hers, or known already
    if (m.status === "signed") {
      editor.stop();
      editor.view.onSignedElsewhere?.();
    } else if (!editor.inflight) {
      editor.refresh().catch(() => {}); // a failed read: her next save merges as before
    }
    return;
  }
  // An amendment signed in another tab under the signed note this tab shows: the list grows.
  const note = state.note;
  if (m.status === "signed" && note && note.status === "signed" && m.amends_note_id === note.id
      && !state.amendments.some((a) => a.id === m.note_id)) reloadSigned("");
}

/** The desktop socket (re)connected, or the server subscribed again: a notice may have been missed. */
export function resync() {
  for (const editor of [state.editor, state.amendment]) {
    if (editor && !editor.stopped && !editor.inflight && !editor.signing) editor.refresh().catch(() => {});
  }
}

/** The note the panel shows ({id, call_id, status, …}), or null: the photo panel attaches images to it. */
export function currentNote() {
  return state.note;
}

/** After a reload without a call: the panel shows the note of her last call again (this tab's). */
export function resume() {
  if (state.callId) return;
  let callId = null;
  try { callId = sessionStorage.getItem(CALL_KEY); } catch { callId = null; }
  if (callId) open(callId, false);
}

/** For support staff in the console and the browser test: open the note of a call she answered. */
export function openJournal(callId) {
  state.live = false;
  return open(callId, false);
}

/** She chose a level in the advice panel and the server recorded it (`saved`: the assessment's answer). */
export function assessed(saved, level) {
  state.assessment = { call_id: saved.call_id, contact_reason: saved.contact_reason, title: saved.title,
    document_id: saved.document, urgency: saved.urgency };
  if (saved.call_id !== state.callId) return;
  state.units = level.care_units;
  fillReferral();
  applyAssessment(state.assessment);
  renderAssessment();
}

/** The call's facts from routing arrived or changed (desktop.js): the referral panel's region may follow. */
export function callFacts() {
  tellReferral();
}

/** After a language switch: the texts this module writes. */
export function relabel() {
  if (!$("journal")) return;
  referral.relabel();
  state.editor?.renderStatus();
  state.amendment?.renderStatus();
  renderAssessment();
  renderSigned();
  renderPhases();
  const box = $("j-patient_id-error");
  if (box.dataset.detail) show(box, inLanguage(box.dataset.detail));
}

function wireForm(form, button, editorOf) {
  form.addEventListener("input", (e) => {
    const name = e.target.name;
    if (!name) return;
    if (e.target.type === "checkbox") e.target.dataset.state = String(e.target.checked);
    editorOf()?.edited(name);
  });
  // A choice is made at once; leaving a field means she is done with it: save now, not after the pause.
  form.addEventListener("change", (e) => {
    if (e.target.name && ["SELECT", "INPUT"].includes(e.target.tagName)) editorOf()?.save();
  });
  form.addEventListener("focusout", () => { const editor = editorOf(); if (editor && editor.dirty().length) editor.save(); });
  // Signing is the button only: Enter in a field must never sign a note.
  form.addEventListener("submit", (e) => e.preventDefault());
  button.addEventListener("click", () => editorOf()?.sign());
}

export function initJournal(deps) {
  env = { ...env, ...deps };
  noteView.status = $("journal-status");
  noteView.notice = $("journal-notice");
  noteView.problems = $("journal-problems");
  amendmentView.status = $("amendment-status");
  amendmentView.notice = $("amendment-notice");
  amendmentView.problems = $("amendment-problems");
  allUnits = [...$("j-referral").options].filter((o) => o.value).map((o) => [o.value, o.textContent]);
  buildFields();
  referral.initReferral({ api: env.api, t: env.t, tl: env.tl, lang: () => document.documentElement.lang,
    inLanguage, choose: chooseReferral });
  wireForm($("journal-form"), $("journal-sign"), () => state.editor);
  wireForm($("amendment-form"), $("amendment-sign"), () => state.amendment);
  $("journal-amend").addEventListener("click", writeAmendment);
  // Back online: send what waited, without waiting for the next retry.
  window.addEventListener("online", () => { state.editor?.save(); state.amendment?.save(); });
}
