// The nurse desktop (docs/desktop.md, "The page"): her state and the buttons to change it, the call offered
// to her with what the caller chose, the phone's controls, wrap-up with its countdown, the queues of her
// regions and her day. Live over the desktop WebSocket; the phone is softphone.js (JsSIP); the call's phases
// and her journal note are journal.js, the referral panel referral.js (driven by journal.js), the caller's
// photos and the video room media.js and video.js.
import { Softphone } from "/static/softphone.js";
import * as journal from "/static/journal.js";
import * as media from "/static/media.js";

const TEXT = {
  sv: {
    skip: "Hoppa till innehållet", title: "Sjuksköterskans skrivbord", signout: "Logga ut från Vårdlinje",
    presence: "Min status", since: "sedan", "ev.login": "Logga in i kön", "ev.ready": "Redo", "ev.pause": "Paus",
    "ev.logout": "Logga ut ur kön", "pause.reason": "Orsak", "reason.break": "Rast", "reason.meeting": "Möte",
    "reason.training": "Utbildning", "reason.administration": "Administration", wrapup: "Efterarbete",
    "wrapup.left": "kvar", "wrapup.done": "Klar – redo", phone: "Telefon", call: "Samtal", "call.number": "Nummer",
    "call.region": "Region", "call.language": "Språk", "call.menu": "Menyval", "call.wait": "Väntetid",
    "call.route": "Vägen hit", answer: "Svara", hangup: "Lägg på", hold: "Parkera", unhold: "Återta",
    mute: "Stäng av mikrofonen", unmute: "Sätt på mikrofonen", keypad: "Knappsats", transfer: "Koppla vidare",
    "transfer.kind": "Till", "transfer.queue": "en kö", "transfer.nurse": "en kollega",
    "transfer.external": "ett externt nummer", "transfer.target": "Mål", "transfer.go": "Koppla", "transfer.number": "Nummer (+46…)",
    advice: "Rådgivningsstöd", "advice.search": "Sök kontaktorsak (det uppringaren säger)",
    "advice.selfcare": "Egenvårdsråd", "advice.choose": "Välj nivå", "advice.saved": "Bedömning sparad",
    "advice.nocall": "Inget samtal att spara bedömningen på", "advice.demo": "Demonstrationsinnehåll",
    "advice.signs": "Tecken", "advice.questions": "Fråga", "advice.units": "Vårdnivå", "advice.none": "Inga träffar",
    queues: "Köer", "q.region": "Region", "q.waiting": "Väntar", "q.longest": "Längsta väntan",
    "q.estimate": "Beräknad väntan", "q.ready": "Redo", "q.staffed": "Bemannade", today: "Mina statusbyten i dag",
    devices: "Ljud", microphone: "Mikrofon", speaker: "Högtalare",
    ringing: "ringer", talking: "pågår", held: "parkerat", offered: "Inkommande samtal", by: "av",
    "phone.registered": "ansluten, redo för samtal", "phone.connecting": "ansluter…",
    "phone.disconnected": "inte ansluten", "phone.sip": "SIP-telefon: svara i telefonen",
    "warn.disconnected": "Telefonen har tappat kontakten med växeln – samtal kan inte nå dig. Försöker igen …",
    "warn.network-offline": "Datorn har ingen nätverksanslutning – samtal kan inte nå dig.",
    "warn.registration-failed": "Telefonen kunde inte logga in i växeln. Ladda om sidan; hör av dig till supporten om det kvarstår.",
    "warn.ws": "Förbindelsen med Vårdlinje bröts – försöker igen. Ett pågående samtal fortsätter.",
    "warn.session": "Din inloggning har gått ut. Ett pågående samtal fortsätter; logga in igen när du kan.",
    "warn.mic": "Webbläsaren får inte använda mikrofonen. Tillåt mikrofonen för den här sidan.",
    login_again: "Logga in igen", none: "–", seconds: "s", minutes: "min", unknown: "okänt",
    "step.own": "egen region", "step.partner": "samarbetsregion", "step.national": "nationell kö",
    "q.national": "Nationella kön", no_targets: "Inga mål just nu", transferred: "Samtalet är kopplat vidare",
    "call.wrapup": "efterarbete", phases: "Samtalets faser",
    journal: "Journalanteckning", "journal.saved": "Sparat", "journal.saving": "Sparar…",
    "journal.retry": "Inte sparat – försöker igen", "journal.notsaved": "Inte sparat",
    "journal.heldback": "utom patientens identitet",
    "journal.conflict": "Anteckningen ändrades i en annan flik – dina ändringar är sparade ovanpå",
    "journal.restored": "Osparade ändringar från förra gången är återställda och sparas nu",
    "journal.opening": "Öppnar anteckningen …", "journal.openfailed": "Anteckningen kunde inte öppnas",
    "journal.sign": "Signera", "journal.missing": "Fyll i före signering", "journal.signedat": "Signerad",
    "journal.unsaved": "Allt är inte sparat än – rätta det som är markerat eller vänta tills det står Sparat, och signera sedan",
    "journal.signconflict": "Anteckningen sparades i en annan flik medan du läste – granska den och signera igen",
    "journal.signedelsewhere": "Anteckningen signerades i en annan flik; ändringar görs som tillägg",
    "journal.amend": "Skriv tillägg", "journal.amendment": "Tillägg", "journal.amendment.text": "Tilläggets text",
    "journal.signamendment": "Signera tillägget", "journal.amendmentsigned": "Tillägg signerat",
    "j.intro": "Inledning", "j.assessment": "Kartläggning och bedömning", "j.advice": "Råd och hänvisning",
    "j.text": "Anteckning", "j.caller_relation": "Uppringaren är", "j.caller_name": "Uppringarens namn",
    "j.consent": "Uppringaren samtycker till dokumentation", "j.patient_id_kind": "Typ av identitet",
    "j.patient_id": "Patientens identitet", "j.patient_id.hint": "ÅÅÅÅMMDD-NNNN, eller reservnummer",
    "j.patient_name": "Patientens namn", "j.contact_reason": "Kontaktorsak", "j.urgency": "Brådskandegrad",
    "j.fromadvice": "Fylls i när du väljer nivå i rådgivningsstödet", "j.advice_field": "Råd till uppringaren",
    "j.referral": "Hänvisning till", "j.referral_text": "Var och när", "j.text_field": "Anteckning (fritext)",
    "j.advice_or_text": "Råd eller anteckning", "j.choose": "– välj –", "j.noreferral": "– ingen hänvisning –",
    "rel.self": "själv (patienten)", "rel.parent": "förälder", "rel.relative": "anhörig", "rel.staff": "vårdpersonal",
    "rel.other": "annan", "idkind.personnummer": "Personnummer", "idkind.samordningsnummer": "Samordningsnummer",
    "idkind.reserv": "Reservnummer", "urgency.112": "Akut: ring 112", "urgency.akut": "Akut: akutmottagning nu",
    "urgency.timmar": "Inom några timmar", "urgency.dagar": "Inom några dagar", "urgency.egenvard": "Egenvård",
    ref: "Hänvisning", "ref.filters": "Filter för enheterna", "ref.municipality": "Kommun (närmast först)",
    "ref.municipality.hint": "tom: ingen avståndsordning", "ref.type": "Typ av vårdenhet",
    "ref.alltypes": "alla som passar nivån", "ref.age": "Patientens ålder (år)", "ref.hits": "Enheter som passar",
    "ref.needlevel": "Välj nivå i rådgivningsstödet, så visas enheter som passar.",
    "ref.call112": "Akut: ring 112 – ingen hänvisning till en mottagning.",
    "ref.when.akut": "öppet nu", "ref.when.timmar": "öppet nu eller inom 12 timmar",
    "ref.when.dagar": "öppet inom 7 dagar", "ref.when.egenvard": "öppet inom 7 dagar", "ref.region": "region",
    "ref.allregions": "alla regioner", "ref.searching": "Söker …", "ref.count": "enheter", "ref.one": "1 enhet",
    "ref.none": "Inga enheter passar – prova en annan typ eller en annan kommun.",
    "ref.failed": "Enheterna kunde inte hämtas", "ref.allday": "dygnet runt", "ref.opento": "öppet till",
    "ref.opens": "öppnar", "ref.closed": "stängt", "ref.choose": "Välj", "ref.sms": "Skicka SMS",
    "ref.chosen": "Vald i anteckningen", "ref.chosenmark": "vald", "ref.sending": "Skickar SMS …",
    "ref.smssent": "SMS skickat till", "ref.smsfailed": "SMS kunde inte skickas",
    "ref.readonly": "Anteckningen är signerad – hänvisningen i den kan inte ändras", "ref.tel": "Tel",
    "ref.access.drop_in": "drop-in", "ref.access.booked": "tidsbokning",
    "ref.access.both": "drop-in och tidsbokning",
    media: "Bild och video från uppringaren", "media.to": "Mobilnummer",
    "media.to.hint": "tomt: numret uppringaren ringer från", "media.image": "Begär bild", "media.video": "Erbjud video",
    "media.close": "Stäng länkarna", "media.images": "Bilder", "media.none": "Inga bilder än.", "media.closeviewer": "Stäng",
    "media.sending": "Skickar sms …", "media.sent.image": "Bildlänk skickad till", "media.sent.video": "Videolänk skickad till",
    "media.expires": "gäller till", "media.closed": "Länkarna är stängda", "media.received": "Ny bild från uppringaren",
    "media.photo": "Bild", "media.view": "visa i full storlek", "media.attach": "Bifoga till anteckningen",
    "media.attached": "Bifogad till anteckningen", "media.attachedother": "Bifogad till en annan anteckning",
    "media.nodraft": "Öppna en osignerad anteckning för samtalet för att bifoga", "journal.attachments": "Bifogade bilder",
    video: "Video", "video.unmute": "Sätt på mikrofonen", "video.mute": "Stäng av mikrofonen",
    "video.cameraoff": "Stäng av kameran", "video.cameraon": "Sätt på kameran", "video.end": "Avsluta video",
    "video.state.idle": "", "video.state.waiting": "Väntar på att uppringaren öppnar länken …",
    "video.state.connecting": "Ansluter videon …", "video.state.connected": "Videon är igång – rösten går i telefonen",
    "video.state.failed": "Videon kunde inte kopplas upp", "video.state.ended": "Videosamtalet är avslutat",
    "video.by.nurse": "av dig", "video.by.caller": "av uppringaren", "video.by.contact_closed": "kontakten är stängd",
    "video.by.replaced": "öppnat i en annan flik",
    "media.opened.image": "Uppringaren har öppnat bildlänken", "media.opened.video": "Uppringaren har öppnat videolänken",
  },
  en: {
    skip: "Skip to content", title: "Nurse desktop", signout: "Sign out of Vårdlinje", presence: "My status",
    since: "since", "ev.login": "Log in to the queue", "ev.ready": "Ready", "ev.pause": "Pause",
    "ev.logout": "Log out of the queue", "pause.reason": "Reason", "reason.break": "Break", "reason.meeting": "Meeting",
    "reason.training": "Training", "reason.administration": "Administration", wrapup: "Wrap-up", "wrapup.left": "left",
    "wrapup.done": "Done – ready", phone: "Phone", call: "Call", "call.number": "Number", "call.region": "Region",
    "call.language": "Language", "call.menu": "Menu choices", "call.wait": "Waited", "call.route": "Route",
    answer: "Answer", hangup: "Hang up", hold: "Hold", unhold: "Resume", mute: "Mute", unmute: "Unmute",
    keypad: "Keypad", transfer: "Transfer", "transfer.kind": "To", "transfer.queue": "a queue",
    "transfer.nurse": "a colleague", "transfer.external": "an external number", "transfer.target": "Target", "transfer.number": "Number (+46…)",
    "transfer.go": "Transfer", advice: "Advice support", "advice.search": "Search contact reason (the caller's words)",
    "advice.selfcare": "Self-care advice", "advice.choose": "Choose level", "advice.saved": "Assessment saved",
    "advice.nocall": "No call to save the assessment on", "advice.demo": "Demonstration content",
    "advice.signs": "Signs", "advice.questions": "Ask", "advice.units": "Care", "advice.none": "No matches",
    queues: "Queues", "q.region": "Region", "q.waiting": "Waiting", "q.longest": "Longest wait",
    "q.estimate": "Estimated wait", "q.ready": "Ready", "q.staffed": "Staffed", today: "My status changes today",
    devices: "Audio", microphone: "Microphone", speaker: "Speaker", ringing: "ringing", talking: "in progress",
    held: "on hold", offered: "Incoming call", by: "by", "phone.registered": "connected, ready for calls",
    "phone.connecting": "connecting…", "phone.disconnected": "not connected", "phone.sip": "SIP phone: answer on the phone",
    "warn.disconnected": "The phone lost its connection to the exchange – calls cannot reach you. Retrying …",
    "warn.network-offline": "This computer has no network connection – calls cannot reach you.",
    "warn.registration-failed": "The phone could not sign in to the exchange. Reload the page; call support if it persists.",
    "warn.ws": "The connection to Vårdlinje was lost – retrying. A call in progress goes on.",
    "warn.session": "Your session has ended. A call in progress goes on; log in again when you can.",
    "warn.mic": "The browser may not use the microphone. Allow the microphone for this page.",
    login_again: "Log in again", none: "–", seconds: "s", minutes: "min", unknown: "unknown",
    "step.own": "own region", "step.partner": "partner region", "step.national": "national queue",
    "q.national": "National queue", no_targets: "No targets right now", transferred: "The call was transferred",
    "state.logged_out": "logged out", "state.ready": "ready", "state.offered": "offered a call",
    "state.on_call": "on a call", "state.wrap_up": "wrap-up", "state.paused": "paused",
    "call.wrapup": "wrap-up", phases: "Call phases",
    journal: "Journal note", "journal.saved": "Saved", "journal.saving": "Saving…",
    "journal.retry": "Not saved – retrying", "journal.notsaved": "Not saved",
    "journal.heldback": "except the patient's identity",
    "journal.conflict": "The note was changed in another tab – your changes are saved on top",
    "journal.restored": "Unsaved changes from last time were restored and are being saved",
    "journal.opening": "Opening the note …", "journal.openfailed": "The note could not be opened",
    "journal.sign": "Sign", "journal.missing": "Fill in before signing", "journal.signedat": "Signed",
    "journal.unsaved": "Not everything is saved yet – correct what is marked or wait for Saved, then sign",
    "journal.signconflict": "The note was saved in another tab while you read it – review it and sign again",
    "journal.signedelsewhere": "The note was signed in another tab; changes are made as amendments",
    "journal.amend": "Write an amendment", "journal.amendment": "Amendment", "journal.amendment.text": "Amendment text",
    "journal.signamendment": "Sign the amendment", "journal.amendmentsigned": "Amendment signed",
    "j.intro": "Introduction", "j.assessment": "Survey and assessment", "j.advice": "Advice and referral",
    "j.text": "Note", "j.caller_relation": "The caller is", "j.caller_name": "Caller's name",
    "j.consent": "The caller consents to documentation", "j.patient_id_kind": "Kind of identity",
    "j.patient_id": "Patient's identity number", "j.patient_id.hint": "YYYYMMDD-NNNN, or a reserve number",
    "j.patient_name": "Patient's name", "j.contact_reason": "Contact reason", "j.urgency": "Urgency",
    "j.fromadvice": "Filled in when you choose a level in advice support", "j.advice_field": "Advice given",
    "j.referral": "Referred to", "j.referral_text": "Where and when", "j.text_field": "Note (free text)",
    "j.advice_or_text": "Advice or note", "j.choose": "– choose –", "j.noreferral": "– no referral –",
    "rel.self": "the patient", "rel.parent": "parent", "rel.relative": "relative", "rel.staff": "care staff",
    "rel.other": "other", "idkind.personnummer": "Personal identity number",
    "idkind.samordningsnummer": "Coordination number", "idkind.reserv": "Reserve number",
    "urgency.112": "Emergency: call 112", "urgency.akut": "Emergency department now", "urgency.timmar": "Within hours",
    "urgency.dagar": "Within days", "urgency.egenvard": "Self-care",
    ref: "Referral", "ref.filters": "Filters for the units", "ref.municipality": "Municipality (nearest first)",
    "ref.municipality.hint": "empty: not ordered by distance", "ref.type": "Kind of care unit",
    "ref.alltypes": "all that fit the level", "ref.age": "Patient's age (years)", "ref.hits": "Units that fit",
    "ref.needlevel": "Choose a level in advice support to see units that fit.",
    "ref.call112": "Emergency: call 112 – no referral to a clinic.",
    "ref.when.akut": "open now", "ref.when.timmar": "open now or within 12 hours",
    "ref.when.dagar": "open within 7 days", "ref.when.egenvard": "open within 7 days", "ref.region": "region",
    "ref.allregions": "all regions", "ref.searching": "Searching …", "ref.count": "units", "ref.one": "1 unit",
    "ref.none": "No unit fits – try another kind or another municipality.",
    "ref.failed": "The units could not be fetched", "ref.allday": "open round the clock", "ref.opento": "open until",
    "ref.opens": "opens", "ref.closed": "closed", "ref.choose": "Choose", "ref.sms": "Send SMS",
    "ref.chosen": "Chosen in the note", "ref.chosenmark": "chosen", "ref.sending": "Sending SMS …",
    "ref.smssent": "SMS sent to", "ref.smsfailed": "The SMS could not be sent",
    "ref.readonly": "The note is signed – its referral cannot change", "ref.tel": "Tel",
    "ref.access.drop_in": "walk-in", "ref.access.booked": "by appointment",
    "ref.access.both": "walk-in and by appointment",
    media: "Photos and video from the caller", "media.to": "Mobile number",
    "media.to.hint": "empty: the number the caller is calling from", "media.image": "Request a photo",
    "media.video": "Offer video", "media.close": "Close the links", "media.images": "Photos", "media.none": "No photos yet.",
    "media.closeviewer": "Close", "media.sending": "Sending text message …", "media.sent.image": "Photo link sent to",
    "media.sent.video": "Video link sent to", "media.expires": "valid until", "media.closed": "The links are closed",
    "media.received": "New photo from the caller", "media.photo": "Photo", "media.view": "view full size",
    "media.attach": "Attach to the note", "media.attached": "Attached to the note",
    "media.attachedother": "Attached to another note", "media.nodraft": "Open an unsigned note for the call to attach",
    "journal.attachments": "Attached photos",
    video: "Video", "video.unmute": "Turn the microphone on", "video.mute": "Turn the microphone off",
    "video.cameraoff": "Turn the camera off", "video.cameraon": "Turn the camera on", "video.end": "End video",
    "video.state.idle": "", "video.state.waiting": "Waiting for the caller to open the link …",
    "video.state.connecting": "Connecting the video …", "video.state.connected": "Video is on – the voice stays on the phone",
    "video.state.failed": "The video could not connect", "video.state.ended": "The video call has ended",
    "video.by.nurse": "by you", "video.by.caller": "by the caller", "video.by.contact_closed": "the contact is closed",
    "video.by.replaced": "opened in another tab",
    "media.opened.image": "The caller has opened the photo link", "media.opened.video": "The caller has opened the video link",
  },
};

const $ = (id) => document.getElementById(id);
const ui = {
  lang: localStorage.getItem("vardlinje.lang") === "en" ? "en" : "sv",
  csrf: "", me: null, presence: null, call: null, phone: null, phoneKind: null, ws: null, wsDelay: 1,
  wsWarning: false, sessionEnded: false, timer: null, user: null,
};
window.vardlinje = ui; // for support staff in the console and the end-to-end test
ui.openJournal = journal.openJournal; // the same, for a call's note

function t(key) {
  return TEXT[ui.lang][key] ?? TEXT.sv[key] ?? key;
}

// A text in a given language, whatever hers is (the journal note is Swedish).
function tl(lang, key) {
  return (TEXT[lang] || TEXT.sv)[key] ?? TEXT.sv[key] ?? key;
}

function applyLanguage() {
  document.documentElement.lang = ui.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const button = $("lang");
  button.textContent = ui.lang === "sv" ? "English" : "Svenska";
  button.lang = ui.lang === "sv" ? "en" : "sv";
  renderPresence();
  renderCall();
  renderPhone();
  journal.relabel();
  media.relabel();
}

const spoken = [];
function announce(text) {
  // One at a time: a screen reader drops a live-region text replaced within moments.
  spoken.push(text);
  if (spoken.length === 1) speakNext();
}

function speakNext() {
  if (!spoken.length) return;
  $("announcer").textContent = spoken[0];
  setTimeout(() => { spoken.shift(); speakNext(); }, 1500);
}

function showError(message) {
  const box = $("errors");
  box.textContent = message || "";
  box.hidden = !message;
}

function clock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString("sv-SE", { hour: "2-digit", minute: "2-digit" });
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return t("none");
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s} ${t("seconds")}` : `${Math.floor(s / 60)} ${t("minutes")} ${s % 60} ${t("seconds")}`;
}

function inCall() {
  return Boolean(ui.phone && ui.phone.inCall);
}

async function api(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = ui.csrf;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    // Never navigate away during a call: leaving the page would hang up the caller. She logs in again in
    // another tab (the banner's link) and the call goes on.
    ui.sessionEnded = true;
    renderPhone();
    if (!inCall()) location.href = "/login?next=/desktop";
    throw new Error(t("warn.session"));
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 403 && data.error === "csrf_failed" && !retried) {
    // She logged in again in another tab: the session (and its token) is new.
    const who = await api("GET", "/api/v1/me");
    ui.csrf = who.csrf_token || "";
    $("logout-csrf").value = ui.csrf;
    ui.sessionEnded = false;
    return api(method, path, body, true);
  }
  if (!response.ok) {
    const error = new Error(data.detail || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.code = data.error; // e.g. edit_conflict: journal.js acts on it
    error.data = data;
    throw error;
  }
  return data;
}

// -- presence --------------------------------------------------------------------------------------------

function stateLabel(p) {
  return ui.lang === "en" ? t(`state.${p.state}`) : p.state_sv;
}

function renderPresence() {
  const p = ui.presence;
  if (!p) return;
  const state = $("state");
  state.textContent = stateLabel(p);
  state.dataset.state = p.state;
  $("reason").textContent = p.reason ? `(${ui.lang === "en" ? t(`reason.${p.reason}`) : p.reason_sv})` : "";
  $("since").textContent = clock(p.since);
  $("since").dateTime = p.since;
  for (const button of document.querySelectorAll("#presence-actions [data-event]")) {
    const allowed = p.allowed.includes(button.dataset.event);
    const box = button.closest(".pause") || button;
    box.hidden = !allowed;
  }
  const wrap = p.state === "wrap_up";
  $("wrapup").hidden = !wrap;
  tickWrapUp();
}

function tickWrapUp() {
  const p = ui.presence;
  if (!p || p.state !== "wrap_up" || !p.wrap_up_ends_at) return;
  const left = (new Date(p.wrap_up_ends_at) - Date.now()) / 1000;
  $("wrapup-left").textContent = duration(Math.max(0, left));
}

async function changePresence(event) {
  showError("");
  const body = { event };
  if (event === "pause") body.reason = $("pause-reason").value;
  try {
    const answer = await api("POST", "/api/v1/desktop/presence", body);
    setPresence(answer.presence);
  } catch (err) {
    showError(err.message);
  }
}

function setPresence(presence) {
  const before = ui.presence;
  ui.presence = presence;
  renderPresence();
  if (!before || before.state !== presence.state || before.since !== presence.since) {
    announce(`${t("presence")}: ${stateLabel(presence)}`);
    loadToday();
  }
  if (presence.state === "wrap_up" && presence.call_id && !inCall()) {
    // The card stays for the call she just had: its phases and her note go on in wrap-up.
    if (!ui.call || ui.call.call_id !== presence.call_id) ui.call = { call_id: presence.call_id };
    ui.call.state = "wrap_up";
  } else if (presence.state !== "offered" && presence.state !== "on_call" && !inCall()) {
    ui.call = null;
  } else if (!ui.call || ui.call.call_id !== presence.call_id) {
    loadCall();
  } else {
    ui.call.state = presence.state;
  }
  renderCall();
  const answered = ["on_call", "wrap_up"].includes(presence.state) ? presence.call_id : null;
  journal.follow(answered, presence.state);
  media.follow(answered, Boolean(answered));
}

async function loadToday() {
  try {
    const data = await api("GET", "/api/v1/desktop/presence/today");
    const list = $("today-list");
    list.replaceChildren(...data.changes.slice().reverse().map((c) => {
      const item = document.createElement("li");
      const reason = c.reason_sv ? ` (${c.reason_sv})` : "";
      item.textContent = `${clock(c.at)} ${c.to_state_sv}${reason} – ${t("by")} ${c.by}`;
      return item;
    }));
  } catch (err) {
    // The history is a courtesy; the live state stands without it.
  }
}

// -- the call ---------------------------------------------------------------------------------------------

async function loadCall() {
  try {
    const data = await api("GET", "/api/v1/desktop/call");
    const current = ui.presence && ui.presence.call_id;
    if (data.call && (data.call.call_id === current || inCall())) ui.call = data.call;
    renderCall();
  } catch (err) {
    showError(err.message);
  }
}

function renderCall() {
  const c = ui.call;
  const phone = ui.phone;
  const inCall = Boolean(phone && phone.inCall);
  if ((c ? c.call_id : null) !== ui.shownCall) {
    // Another call (or none): nothing of the previous one stays on screen.
    ui.shownCall = c ? c.call_id : null;
    $("transfer-box").open = false;
    $("keypad-box").open = false;
    $("transfer-number").value = "";
    $("transfer-target").replaceChildren();
    showError("");
  }
  const established = inCall && phone.session.isEstablished();
  $("call").hidden = !c && !inCall;
  if (!c) {
    for (const id of ["call-number", "call-region", "call-language", "call-menu", "call-wait", "call-route"]) {
      $(id).textContent = t("none");
    }
  } else {
    $("call-number").textContent = c.caller_display || c.caller_number || t("unknown");
    $("call-region").textContent = c.caller_region_name
      ? (c.region_name && c.region_name !== c.caller_region_name ? `${c.caller_region_name} (${c.region_name})` : c.caller_region_name)
      : (c.region_name || c.region || t("none"));
    $("call-language").textContent = ui.lang === "en" ? (c.language || t("none")) : (c.language_sv || c.language || t("none"));
    const choices = (c.menu_choices || []).map((m) => m.label).filter(Boolean);
    $("call-menu").textContent = choices.length ? choices.join(" → ") : t("none");
    $("call-wait").textContent = duration(c.wait_seconds);
    const step = c.step ? t(`step.${c.step}`) : "";
    $("call-route").textContent = [step, c.via_region && c.via_region !== c.region ? c.via_region : "", c.agreement || ""]
      .filter(Boolean).join(", ") || t("none");
  }
  const ringing = inCall && !established && phone.session.direction === "incoming";
  const wrapping = !inCall && c && c.state === "wrap_up";
  $("call-phase").textContent = established ? `(${phone.onHold ? t("held") : t("talking")})`
    : wrapping ? `(${t("call.wrapup")})` : (ringing || (c && c.state === "offered") ? `(${t("ringing")})` : "");
  $("answer").disabled = !ringing;
  $("answer").hidden = ui.phoneKind !== "ws" || established;
  $("hangup").disabled = !inCall;
  $("hold").disabled = !established;
  $("mute").disabled = !established;
  $("hold").setAttribute("aria-pressed", String(Boolean(phone && phone.onHold)));
  $("mute").setAttribute("aria-pressed", String(Boolean(phone && phone.muted)));
  for (const key of document.querySelectorAll("#keypad .key")) key.disabled = !established;
  // In wrap-up the card stays for her phases and note; the phone's controls have nothing to act on.
  $("call-actions").hidden = Boolean(wrapping);
  $("keypad-box").hidden = Boolean(wrapping);
  // A desk-phone nurse talks on her phone; she still transfers from here.
  const talking = established || (ui.phoneKind !== "ws" && c && c.state === "on_call");
  $("transfer-box").hidden = !talking;
  $("advice-slot").dataset.call = c ? c.call_id : "";
  if (c) ui.lastCall = c.call_id; // wrap-up: her assessment still belongs to the call she just had
  journal.callFacts(); // the referral panel's region
}

// -- the phone --------------------------------------------------------------------------------------------

function renderPhone() {
  const phone = ui.phone;
  let text = t("none");
  if (ui.phoneKind && ui.phoneKind !== "ws") text = t("phone.sip");
  else if (phone) text = phone.registered ? t("phone.registered") : phone.warning ? t("phone.disconnected") : t("phone.connecting");
  $("phone-state").textContent = text;
  const warning = phone && phone.warning ? t(`warn.${phone.warning}`) : ui.wsWarning ? t("warn.ws") : "";
  const banner = $("banner");
  if (ui.sessionEnded) {
    banner.replaceChildren(document.createTextNode(`${t("warn.session")} `), Object.assign(document.createElement("a"),
      { href: "/login?next=/desktop", target: "_blank", textContent: t("login_again") }));
    banner.hidden = false;
  } else {
    banner.textContent = warning;
    banner.hidden = !warning;
  }
}

async function startPhone() {
  const config = await api("GET", "/api/v1/desktop/softphone");
  ui.phoneKind = config.kind;
  if (config.kind !== "ws") {
    renderPhone();
    renderCall();
    return;
  }
  const phone = new Softphone({
    server: config.server, domain: config.domain, user: config.user, password: config.password,
    iceServers: config.iceServers, microphoneId: localStorage.getItem("vardlinje.microphone") || "",
    speakerId: localStorage.getItem("vardlinje.speaker") || "",
  });
  ui.phone = phone;
  for (const name of ["state", "registered", "unregistered", "disconnected", "registrationfailed", "warning"]) {
    phone.addEventListener(name, renderPhone);
  }
  for (const name of ["accepted", "confirmed", "muted", "unmuted", "hold", "unhold"]) {
    phone.addEventListener(name, renderCall);
  }
  phone.addEventListener("incoming", () => {
    announce(t("offered"));
    if (!ui.call) loadCall();
    renderCall();
  });
  const ended = () => {
    if (!ui.presence || !["offered", "on_call", "wrap_up"].includes(ui.presence.state)) ui.call = null;
    else if (ui.presence.state === "wrap_up" && ui.call) ui.call.state = "wrap_up";
    renderCall();
  };
  phone.addEventListener("ended", ended);
  phone.addEventListener("failed", ended);
  phone.start();
  renderPhone();
}

async function fillDevices() {
  try {
    const { microphones, speakers } = await Softphone.devices();
    const fill = (select, devices, stored) => {
      select.replaceChildren(...devices.map((d, i) => Object.assign(document.createElement("option"),
        { value: d.id, textContent: d.label || `${select.id} ${i + 1}`, selected: d.id === stored })));
    };
    fill($("microphone"), microphones, localStorage.getItem("vardlinje.microphone"));
    fill($("speaker"), speakers, localStorage.getItem("vardlinje.speaker"));
  } catch (err) {
    // No devices to list (no permission yet): the browser's defaults are used.
  }
}

// -- the desktop WebSocket --------------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/desktop/ws`);
  ui.ws = ws;
  let ping = null;
  ws.addEventListener("open", () => {
    ui.wsDelay = 1;
    ui.wsWarning = false;
    renderPhone();
    media.refresh(); // notices are at most once: the lists are the truth
    journal.resync();
    ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: "ping" })), 5000);
  });
  ws.addEventListener("message", (e) => {
    let message;
    try { message = JSON.parse(e.data); } catch { return; }
    if (message.type === "presence") setPresence(message.presence);
    else if (message.type === "offered") {
      ui.call = { ...message.call, state: "offered" };
      announce(`${t("offered")}: ${message.call.caller_display || ""}`);
      renderCall();
    } else if (message.type === "queues") renderQueues(message.queues);
    else if (message.type === "media_image" || message.type === "media_link_opened") media.message(message);
    else if (message.type === "notices_resumed") { // the server may have missed a notice
      media.refresh();
      journal.resync();
    }
    else if (message.type === "journal_note") journal.noteSaved(message);
    else if (message.type === "session_ended") {
      ui.sessionEnded = true;
      renderPhone();
    }
  });
  ws.addEventListener("close", (e) => {
    clearInterval(ping);
    if (ui.ws !== ws) return;
    if (e.code === 4401 || e.code === 1008) {
      ui.sessionEnded = true;
      renderPhone();
      return;
    }
    ui.wsWarning = true;
    renderPhone();
    const delay = Math.min(30, ui.wsDelay) * (0.5 + Math.random());
    ui.wsDelay = Math.min(30, ui.wsDelay * 2);
    setTimeout(connect, delay * 1000);
  });
}

function renderQueues(queues) {
  const rows = queues.map((q) => {
    const row = document.createElement("tr");
    const name = q.region === "national" ? t("q.national") : (q.name || q.region);
    const cells = [name, q.waiting, duration(q.longest_wait_seconds), duration(q.estimated_wait_seconds), q.ready, q.staffed];
    cells.forEach((value, i) => {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.scope = "row";
      cell.textContent = String(value);
      row.append(cell);
    });
    return row;
  });
  $("queue-rows").replaceChildren(...rows);
}

// -- advice support ---------------------------------------------------------------------------------------

let adviceTimer = null;
let adviceSeq = 0;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

async function adviceSearch() {
  const q = $("advice-q").value.trim();
  const seq = ++adviceSeq; // a slow answer to an older keystroke must not overwrite a newer one
  if (!q) { $("advice-hits").replaceChildren(); return; }
  try {
    const data = await api("GET", `/api/v1/advice/search?q=${encodeURIComponent(q)}&limit=6`);
    if (seq !== adviceSeq) return;
    const items = data.hits.map((h) => {
      const item = el("li");
      const button = el("button", h.title, "hit");
      button.type = "button";
      button.dataset.doc = h.id;
      button.addEventListener("click", () => openDocument(h.id));
      item.append(button);
      if (h.matched.length) item.append(" ", el("mark", h.matched.slice(0, 2).join(", ")));
      return item;
    });
    $("advice-hits").replaceChildren(...(items.length ? items : [el("li", t("advice.none"))]));
  } catch (err) {
    showError(err.message);
  }
}

async function openDocument(id) {
  try {
    const doc = await api("GET", `/api/v1/advice/documents/${encodeURIComponent(id)}`);
    $("advice-title").textContent = doc.title;
    $("advice-meta").textContent = `${doc.demo ? t("advice.demo") + " · " : ""}v${doc.version} · ${doc.reviewed_by}`;
    $("advice-levels").replaceChildren(...doc.levels.map((level) => {
      const box = el("section", undefined, "level");
      box.dataset.urgency = level.urgency;
      box.append(el("h4", level.urgency_sv), el("p", level.disposition_sv, "muted"));
      box.append(el("p", t("advice.signs"), "label"), Object.assign(el("ul"), {}));
      box.lastChild.append(...level.signs.map((sign) => el("li", sign)));
      if (level.questions.length) {
        box.append(el("p", t("advice.questions"), "label"), el("ul"));
        box.lastChild.append(...level.questions.map((q) => el("li", q)));
      }
      box.append(el("p", `${t("advice.units")}: ${level.care_units.map((u) => u.name_sv).join(", ")}`, "muted"));
      const choose = el("button", `${t("advice.choose")}: ${level.urgency_sv}`, "choose");
      choose.type = "button";
      choose.addEventListener("click", () => assess(doc, level));
      box.append(choose);
      return box;
    }));
    $("advice-selfcare").replaceChildren(...doc.self_care.map((advice) => el("li", advice)));
    $("advice-selfcare").hidden = $("advice-selfcare-h").hidden = !doc.self_care.length;
    $("advice-doc").hidden = false;
    $("advice-title").focus?.();
  } catch (err) {
    showError(err.message);
  }
}

async function assess(doc, level) {
  const callId = (ui.call && ui.call.call_id) || ui.lastCall;
  if (!callId) { showError(t("advice.nocall")); return; }
  try {
    const saved = await api("POST", "/api/v1/advice/assessments",
      { call_id: callId, document_id: doc.id, urgency: level.urgency });
    $("advice-saved").textContent = `${t("advice.saved")}: ${saved.title} · ${saved.urgency_sv}`;
    journal.assessed(saved, level); // contact reason and urgency go into her note
  } catch (err) {
    showError(err.message);
  }
}

// -- transfer ---------------------------------------------------------------------------------------------

async function loadTargets() {
  const kind = $("transfer-kind").value;
  $("transfer-number").hidden = kind !== "external";
  $("transfer-target").hidden = kind === "external";
  if (kind === "external") return;
  try {
    const data = await api("GET", "/api/v1/desktop/call/targets");
    const items = kind === "queue"
      ? (data.queues || []).map((q) => [q.id, q.label || q.name || q.id])
      : (data.nurses || []).map((n) => [n.endpoint, n.display_name || n.endpoint]);
    const options = items.map(([value, label]) => Object.assign(document.createElement("option"), { value, textContent: label }));
    if (!options.length) options.push(Object.assign(document.createElement("option"), { value: "", textContent: t("no_targets") }));
    $("transfer-target").replaceChildren(...options);
  } catch (err) {
    showError(err.message);
  }
}

async function transfer(event) {
  event.preventDefault();
  showError("");
  const kind = $("transfer-kind").value;
  const target = kind === "external" ? $("transfer-number").value.trim() : $("transfer-target").value;
  if (!target) return;
  const button = $("transfer").querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("POST", "/api/v1/desktop/call/transfer", { kind, target });
    announce(t("transferred"));
    $("transfer-box").open = false;
  } catch (err) {
    showError(err.message);
  } finally {
    button.disabled = false;
  }
}

// -- start ------------------------------------------------------------------------------------------------

function wire() {
  window.addEventListener("beforeunload", (e) => {
    if (inCall()) e.preventDefault(); // leaving the page would hang up the caller
  });
  $("lang").addEventListener("click", () => {
    ui.lang = ui.lang === "sv" ? "en" : "sv";
    localStorage.setItem("vardlinje.lang", ui.lang);
    applyLanguage();
  });
  for (const button of document.querySelectorAll("#presence-actions [data-event]")) {
    button.addEventListener("click", () => changePresence(button.dataset.event));
  }
  $("wrapup-done").addEventListener("click", () => changePresence("ready"));
  $("answer").addEventListener("click", async () => {
    showError("");
    try {
      await ui.phone.answer();
    } catch (err) {
      showError(err.name === "NotAllowedError" ? t("warn.mic") : err.message);
    }
    renderCall();
    fillDevices();
  });
  $("hangup").addEventListener("click", () => ui.phone && ui.phone.hangup());
  $("hold").addEventListener("click", () => {
    if (!ui.phone) return;
    if (ui.phone.onHold) ui.phone.unhold(); else ui.phone.hold();
    renderCall();
  });
  $("mute").addEventListener("click", () => {
    if (!ui.phone) return;
    if (ui.phone.muted) ui.phone.unmute(); else ui.phone.mute();
  });
  for (const key of document.querySelectorAll("#keypad .key")) {
    key.addEventListener("click", () => ui.phone && ui.phone.sendDTMF(key.dataset.key));
  }
  $("transfer-box").addEventListener("toggle", () => $("transfer-box").open && loadTargets());
  $("transfer-kind").addEventListener("change", loadTargets);
  $("transfer").addEventListener("submit", transfer);
  $("advice-q").addEventListener("input", () => {
    clearTimeout(adviceTimer);
    adviceTimer = setTimeout(adviceSearch, 120);
  });
  $("microphone").addEventListener("change", (e) => {
    localStorage.setItem("vardlinje.microphone", e.target.value);
    if (ui.phone) ui.phone.setMicrophone(e.target.value);
  });
  $("speaker").addEventListener("change", (e) => {
    localStorage.setItem("vardlinje.speaker", e.target.value);
    if (ui.phone) ui.phone.setSpeaker(e.target.value);
  });
  ui.timer = setInterval(() => {
    tickWrapUp();
    if (ui.call && ui.call.wait_seconds !== undefined && ui.presence && ui.presence.state === "offered") {
      ui.call.wait_seconds += 1;
      $("call-wait").textContent = duration(ui.call.wait_seconds);
    }
  }, 1000);
}

// A reload during wrap-up has no call facts from routing any more: the call record has the number.
function contactFacts(contact) {
  const c = ui.call;
  if (!c || c.call_id !== contact.id || c.caller_number) return;
  c.caller_number = contact.caller_number;
  c.region = c.region || contact.region;
  renderCall();
}

async function main() {
  journal.initJournal({ api, t, tl, announce, showError, me: () => ui.user, onContact: contactFacts,
    callFacts: () => ui.call, onNote: () => media.noteChanged() });
  media.initMedia({ api, t, announce, note: journal.currentNote });
  wire();
  applyLanguage();
  try {
    const who = await api("GET", "/api/v1/me");
    ui.user = who;
    ui.csrf = who.csrf_token || "";
    $("logout-csrf").value = ui.csrf;
    ui.me = await api("GET", "/api/v1/desktop/me");
    setPresence(ui.me.presence);
    journal.resume(); // no call now: her last note, if this tab had one
  } catch (err) {
    showError(err.message);
    return;
  }
  connect();
  try {
    await startPhone();
  } catch (err) {
    showError(err.message);
  }
  fillDevices();
  document.body.dataset.ready = "true";
}

// JsSIP's bundle is a deferred classic script; modules run after it, so the global is there.
main();
