// Photos and video from the caller's phone during the call (docs/escalation.md).
//
// desktop.js owns the page and calls in here: `initMedia` once, `follow(callId, live)` when her call changes
// (the call she is on or wrapping up, or null), `message(m)` for the desktop socket's `media_image`, and
// `noteChanged(note)` / `relabel()`. A photo arrives live over the desktop socket; the list route is the truth
// (after a reload, or when her socket is on another instance). The video room is video.js.
import { VideoRoom } from "/static/video.js";

let env = { api: null, t: (k) => k, announce: () => {}, note: () => null };
const $ = (id) => document.getElementById(id);

const state = {
  callId: null, // the call whose photos the panel shows (it stays after the call, like her note)
  live: false, // she is on that call or wrapping it up: she may send links
  images: [], // GET /api/v1/calls/{id}/images, newest last
  room: null, // the VideoRoom, while one is offered or running
  seq: 0,
};

function t(key) {
  return env.t(key);
}

// The server's messages are "svenska / English".
function inLanguage(message) {
  const parts = String(message || "").split(" / ");
  return parts.length === 2 && document.documentElement.lang === "en" ? parts[1] : parts[0];
}

function hhmm(iso) {
  return iso ? new Date(iso).toLocaleTimeString("sv-SE", { hour: "2-digit", minute: "2-digit" }) : "";
}

function show(el, text) {
  el.textContent = text || "";
  el.hidden = !text;
}

// -- links ----------------------------------------------------------------------------------------------------

async function sendLink(kind) {
  const callId = state.callId;
  if (!callId || !state.live) return null;
  const to = $("media-to").value.trim();
  show($("media-error"), "");
  $("media-status").textContent = t("media.sending");
  try {
    const link = await env.api("POST", `/api/v1/calls/${encodeURIComponent(callId)}/media-links`,
      to ? { kind, to } : { kind });
    const line = `${t(`media.sent.${kind}`)} ${link.to_display}, ${t("media.expires")} ${hhmm(link.expires_at)}`;
    $("media-status").textContent = line;
    env.announce(line);
    return link;
  } catch (err) {
    $("media-status").textContent = "";
    show($("media-error"), inLanguage(err.message));
    if (err.code === "no_mobile" || err.code === "bad_number") $("media-to").focus();
    return null;
  }
}

async function closeLinks() {
  if (!state.callId) return;
  try {
    await env.api("DELETE", `/api/v1/calls/${encodeURIComponent(state.callId)}/media-links`);
    $("media-status").textContent = t("media.closed");
  } catch (err) {
    show($("media-error"), inLanguage(err.message));
  }
}

// -- photos ---------------------------------------------------------------------------------------------------

async function loadImages(callId) {
  const seq = ++state.seq;
  try {
    const data = await env.api("GET", `/api/v1/calls/${encodeURIComponent(callId)}/images`);
    if (seq !== state.seq) return;
    state.images = data.images || [];
  } catch (err) {
    if (seq !== state.seq) return;
    state.images = [];
    show($("media-error"), inLanguage(err.message));
  }
  renderImages();
}

function upsert(image) {
  const at = state.images.findIndex((i) => i.id === image.id);
  if (at >= 0) state.images[at] = image;
  else state.images.push(image);
}

function draft() {
  const note = env.note();
  return note && note.status === "draft" && note.call_id === state.callId ? note : null;
}

// Keyed: a photo's element (and its thumbnail) is made once. Her note's every autosave re-renders the card:
// a rebuilt list would take the keyboard focus from the button she is on, and could fetch the thumbnail again
// (not cached: no-store), each fetch an access-log line.
function photoItem(list, image, label) {
  let item = [...list.children].find((li) => li.dataset.image === image.id);
  if (!item) {
    item = document.createElement("li");
    item.dataset.image = image.id;
    const view = Object.assign(document.createElement("button"), { type: "button", className: "thumb" });
    view.append(Object.assign(document.createElement("img"), { src: image.thumb_url, alt: "" }),
      document.createElement("span"));
    view.addEventListener("click", () => viewImage(image, item.dataset.label));
    item.append(view, Object.assign(document.createElement("div"), { className: "photo-state" }));
  }
  item.dataset.label = label;
  item.querySelector("button.thumb span").textContent = label;
  item.querySelector("button.thumb").setAttribute("aria-label", `${label} – ${t("media.view")}`);
  return item;
}

function renderImages() {
  const list = $("media-images");
  const note = env.note();
  const writable = draft();
  const items = state.images.map((image, n) => {
    const item = photoItem(list, image, `${t("media.photo")} ${n + 1}, ${hhmm(image.received_at)}`);
    const box = item.querySelector(".photo-state");
    if (image.attached_note_id) {
      box.replaceChildren(Object.assign(document.createElement("span"), {
        className: "attached", textContent: note && image.attached_note_id === note.id ? t("media.attached") : t("media.attachedother"),
      }));
    } else {
      // The same button across renders: her keyboard focus stays on it while her note autosaves.
      let attach = box.querySelector("button.attach");
      if (!attach) {
        attach = Object.assign(document.createElement("button"), { type: "button", className: "attach" });
        attach.addEventListener("click", () => attachImage(image, attach));
        box.replaceChildren(attach);
      }
      Object.assign(attach, { textContent: t("media.attach"), disabled: !writable, title: writable ? "" : t("media.nodraft") });
    }
    return item;
  });
  list.replaceChildren(...items); // the same elements, moved: no thumbnail is fetched again
  $("media-none").hidden = state.images.length > 0;
  renderAttachments();
}

// The journal panel lists the photos attached to the note it shows.
function renderAttachments() {
  const note = env.note();
  const list = $("journal-attachment-list");
  const attached = note ? state.images.filter((i) => i.attached_note_id === note.id) : [];
  list.replaceChildren(...attached.map((image) => photoItem(list, image, `${t("media.photo")}, ${hhmm(image.received_at)}`)));
  $("journal-attachments").hidden = attached.length === 0;
}

function viewImage(image, label) {
  const dialog = $("media-viewer");
  $("media-viewer-title").textContent = label;
  const img = $("media-viewer-img");
  img.alt = label;
  img.src = image.url; // every view is logged by the server
  dialog.showModal();
}

async function attachImage(image, button) {
  const note = draft();
  if (!note) return;
  button.disabled = true;
  show($("media-error"), "");
  try {
    const saved = await env.api("POST", `/api/v1/media/images/${encodeURIComponent(image.id)}/attach`, { note_id: note.id });
    upsert(saved);
    env.announce(t("media.attached"));
  } catch (err) {
    button.disabled = false;
    show($("media-error"), inLanguage(err.message));
  }
  renderImages();
}

// -- video ----------------------------------------------------------------------------------------------------

async function offerVideo() {
  if (state.room && !state.room.over) return;
  $("media-video").disabled = true;
  const link = await sendLink("video");
  if (!link) {
    renderControls();
    return;
  }
  enterRoom(state.callId, link.link_id);
}

// The room she is in survives a reload of the desktop: this tab remembers it until it ends.
const ROOM_KEY = "vardlinje.video.room";

function enterRoom(callId, linkId) {
  const room = new VideoRoom({ linkId, localVideo: $("video-local"), remoteVideo: $("video-remote"),
    isOver: () => endedBy(callId, linkId) });
  state.room = room;
  window.vardlinje.video = room; // support staff and the browser test
  try { sessionStorage.setItem(ROOM_KEY, JSON.stringify({ callId, linkId })); } catch { /* not kept: fine */ }
  room.addEventListener("state", () => {
    if (room.over) try { sessionStorage.removeItem(ROOM_KEY); } catch { /* nothing kept */ }
    renderVideo();
  });
  room.addEventListener("camera", renderVideo);
  room.start();
  renderVideo();
}

// Whether (and by whom) the room was ended while her socket was away: the contact's record says.
async function endedBy(callId, linkId) {
  const contact = await env.api("GET", `/api/v1/calls/${encodeURIComponent(callId)}`);
  const ended = (contact.media || []).find((m) => m.kind === "video_ended" && m.link === linkId);
  return ended ? ended.by || "contact_closed" : null;
}

function resumeRoom(callId) {
  let kept = null;
  try { kept = JSON.parse(sessionStorage.getItem(ROOM_KEY) || "null"); } catch { kept = null; }
  if (kept && kept.callId === callId && Number.isInteger(kept.linkId)) enterRoom(callId, kept.linkId);
}

function renderVideo() {
  const room = state.room;
  const box = $("video");
  box.hidden = !room;
  if (!room) return;
  const s = room.state;
  box.dataset.state = s;
  const status = $("video-status");
  status.dataset.state = s;
  let text = t(`video.state.${s}`);
  if (s === "ended" && room.by) text = `${text} (${t(`video.by.${room.by}`)})`;
  if (s !== status.dataset.said) {
    status.dataset.said = s;
    env.announce(text);
  }
  status.textContent = text;
  const running = !room.over;
  $("video-mute").disabled = !running;
  $("video-camera").disabled = !running;
  $("video-end").disabled = !running;
  $("video-mute").setAttribute("aria-pressed", String(!room.micOn));
  $("video-mute").textContent = t(room.micOn ? "video.mute" : "video.unmute");
  $("video-camera").setAttribute("aria-pressed", String(!room.cameraOn));
  $("video-camera").textContent = t(room.cameraOn ? "video.cameraoff" : "video.cameraon");
  renderControls();
}

function renderControls() {
  const live = Boolean(state.callId && state.live);
  $("media-request").hidden = !live;
  $("media-image").disabled = !live;
  $("media-video").disabled = !live || Boolean(state.room && !state.room.over);
}

// -- what desktop.js calls ------------------------------------------------------------------------------------

/** The call she is on or wrapping up, or null (the panel keeps the last call's photos until the next call). */
export function follow(callId, live) {
  if (callId && callId !== state.callId) {
    if (state.room && !state.room.over) {
      state.room.end(); // the caller's page hears it (when the socket is up) …
      state.room.finish("ended", "nurse"); // … and her camera is off at once: a new call is starting
    }
    state.room = null;
    state.callId = callId;
    state.images = [];
    $("media-images").replaceChildren();
    $("journal-attachment-list").replaceChildren();
    $("media-to").value = "";
    $("media-status").textContent = "";
    show($("media-error"), "");
    $("media").hidden = false;
    renderVideo();
    loadImages(callId);
    if (live) resumeRoom(callId);
  }
  state.live = Boolean(callId) && callId === state.callId && live;
  renderControls();
}

/** The desktop socket (re)connected: a photo may have come while it was away. */
export function refresh() {
  if (state.callId) loadImages(state.callId);
}

/** A message from the desktop socket. */
export function message(m) {
  if (m.call_id !== state.callId) return;
  if (m.type === "media_link_opened") {
    // She knows the SMS arrived and the caller is on the page: she can guide them through it.
    const line = `${t(`media.opened.${m.kind === "video" ? "video" : "image"}`)} ${hhmm(new Date().toISOString())}`;
    $("media-status").textContent = line;
    env.announce(line);
    return;
  }
  if (m.type !== "media_image" || !m.image) return;
  upsert(m.image);
  renderImages();
  env.announce(t("media.received"));
}

/** The journal panel opened, saved or signed a note: the attach buttons follow it. */
export function noteChanged() {
  if (state.callId) renderImages();
}

export function relabel() {
  renderImages();
  renderVideo();
  renderControls();
}

export function initMedia(deps) {
  env = { ...env, ...deps };
  $("media-image").addEventListener("click", async () => {
    $("media-image").disabled = true;
    await sendLink("image");
    renderControls();
  });
  $("media-video").addEventListener("click", offerVideo);
  $("media-close").addEventListener("click", closeLinks);
  $("media-request").addEventListener("submit", (e) => e.preventDefault());
  $("video-mute").addEventListener("click", () => { state.room?.setMic(!state.room.micOn); renderVideo(); });
  $("video-camera").addEventListener("click", () => { state.room?.setCamera(!state.room.cameraOn); renderVideo(); });
  $("video-end").addEventListener("click", () => state.room?.end());
  $("media-viewer").addEventListener("close", () => { $("media-viewer-img").removeAttribute("src"); });
}
