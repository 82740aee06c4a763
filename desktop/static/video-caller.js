// Vårdlinje: the caller's side of the video room, on the page behind the SMS link (/m/<token>; the page is
// webrtc/pages.py video_page, the protocol docs/escalation.md "Video"). Plain modern JavaScript, no
// dependencies, nothing loaded from elsewhere (the page's CSP allows this file and our WebSocket only).
//
// The caller's phone is the ANSWERER: the nurse's desktop sends an offer whenever the caller (re)joins; this
// page answers it, trickles its ICE candidates, and reports the connection's state. The voice stays on the
// phone call, so the microphone track is sent disabled until the caller turns it on (#mute).
//
// Elements: #start, #switch, #mute (a mute toggle: aria-pressed="true" while the microphone is off, as on the
// nurse's desktop), #end, #remote, #local, #status (its
// data-state, and body's, is one of idle, waiting, connecting, connected, ended, failed, closed).
// window.videoPeer is the current RTCPeerConnection (null between sessions); tests read getStats from it.

const $ = (id) => document.getElementById(id);

const TEXTS = JSON.parse($("texts").textContent || "{}");
const section = $("video");
const statusLine = $("status");
const remoteVideo = $("remote");
const localVideo = $("local");
const buttons = { start: $("start"), switch: $("switch"), mute: $("mute"), end: $("end") };

const MAX_RETRIES = 3;         // reconnects after a dropped socket (each join uses one of the link's uses)
const MAX_PENDING = 200;       // remote candidates kept until the offer is applied
const END_GRACE_MS = 3000;     // after sending `end`, the server's `ended` is awaited this long
const END_AWAY_MS = 8000;      // an end pressed while the socket reconnects waits this long for it

let ws = null;                 // the current WebSocket
let pc = null;                 // the current RTCPeerConnection
let stream = null;             // the camera (and microphone) stream
let videoSender = null;        // the pc's sender of the camera track (replaceTrack on #switch)
let facing = "user";           // the camera in use: user (front) or environment (back)
let iceServers = [];
let pending = [];              // candidates that came before the offer
let micOn = false;
let over = false;              // ended, replaced or the link unusable: nothing more happens on this page
let retries = 0;
let endWanted = false;         // end pressed while the socket was away: sent as soon as it is back
let work = Promise.resolve();  // the socket's messages, handled one after the other (offer before candidates)

function setState(state, textKey) {
  statusLine.dataset.state = state;
  document.body.dataset.state = state;
  statusLine.textContent = TEXTS[textKey || state] || "";
}

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

// --- the camera ----------------------------------------------------------------------------------------------

async function camera(facingMode) {
  try {
    return await navigator.mediaDevices.getUserMedia({ video: { facingMode: { exact: facingMode } } });
  } catch (err) {
    if (err && err.name === "OverconstrainedError") {  // a phone (or a laptop) without that camera
      return navigator.mediaDevices.getUserMedia({ video: { facingMode } });
    }
    throw err;
  }
}

async function openCamera() {
  try {
    return await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: true });
  } catch (err) {
    // No microphone, or it was refused: the video alone is still worth it (the voice is on the phone).
    return navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" } });
  }
}

async function start() {
  if (!window.RTCPeerConnection || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setState("failed", "unsupported");
    return;
  }
  buttons.start.disabled = true;
  try {
    stream = await openCamera();
  } catch (err) {
    buttons.start.disabled = false;
    setState("failed", "camera");
    return;
  }
  facing = "user";
  for (const track of stream.getAudioTracks()) track.enabled = false;  // the voice goes over the phone call
  micOn = false;
  showLocal();
  showMic();
  buttons.start.hidden = true;
  buttons.switch.hidden = false;
  buttons.mute.hidden = stream.getAudioTracks().length === 0;
  buttons.end.hidden = false;
  connect();
}

function showLocal() {
  localVideo.srcObject = stream;
  localVideo.classList.toggle("mirrored", facing === "user");
}

function showMic() {
  buttons.mute.setAttribute("aria-pressed", String(!micOn));
  buttons.mute.textContent = micOn ? TEXTS.mic_off : TEXTS.mic_on;
}

function toggleMic() {
  if (!stream) return;
  micOn = !micOn;
  for (const track of stream.getAudioTracks()) track.enabled = micOn;
  showMic();
}

async function switchCamera() {
  if (!stream) return;
  const old = stream.getVideoTracks()[0];
  const next = facing === "user" ? "environment" : "user";
  buttons.switch.disabled = true;
  // Most phones cannot open both cameras at once: the old one is stopped first.
  if (old) old.stop();
  let fresh = null;
  try {
    fresh = (await camera(next)).getVideoTracks()[0];
    if (over || !stream) {  // the video ended while the camera opened: the light must go off
      fresh.stop();
      return;
    }
    facing = next;
  } catch (err) {
    try {
      fresh = (await camera(facing)).getVideoTracks()[0];
      if (over || !stream) {
        fresh.stop();
        return;
      }
    } catch (err2) {
      // No camera at all now: the connection itself lives on (the nurse still hears the phone), so only
      // the line says so; the state stays what it is.
      statusLine.textContent = TEXTS.switch_failed || "";
    }
  }
  if (fresh && stream) {
    if (old) stream.removeTrack(old);
    stream.addTrack(fresh);
    showLocal();
    if (videoSender) {
      try {
        await videoSender.replaceTrack(fresh);  // no new offer: the nurse keeps the same connection
      } catch (err) {
        console.warn("video: the camera could not be switched in the connection", err);
      }
    }
  }
  buttons.switch.disabled = false;
}

// --- the peer connection -------------------------------------------------------------------------------------

function fingerprint(sdp) {
  const match = /^a=fingerprint:(.+)$/m.exec(sdp || "");
  return match ? match[1].trim() : "";
}

function dropPeer() {
  pending = [];
  videoSender = null;
  if (pc) {
    const old = pc;
    pc = null;
    old.onicecandidate = old.ontrack = old.onconnectionstatechange = null;
    old.close();
  }
  window.videoPeer = null;
  remoteVideo.srcObject = null;
}

function newPeer() {
  dropPeer();
  const peer = new RTCPeerConnection({ iceServers });
  pc = peer;
  window.videoPeer = peer;
  peer.outgoing = [];  // our candidates until the answer is sent: the nurse never gets one before it
  peer.answered = false;
  peer.onicecandidate = (event) => {
    if (peer !== pc) return;
    const c = event.candidate;
    // Exactly the fields the server accepts (it refuses extra ones).
    const message = { type: "candidate", candidate: c ? { candidate: c.candidate, sdpMid: c.sdpMid,
      sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment } : null };
    if (peer.answered) send(message);
    else peer.outgoing.push(message);
  };
  peer.ontrack = (event) => {
    if (peer !== pc) return;
    let shown = remoteVideo.srcObject;
    if (event.streams && event.streams[0]) {
      shown = event.streams[0];
    } else {
      if (!shown) shown = new MediaStream();
      shown.addTrack(event.track);
    }
    if (remoteVideo.srcObject !== shown) remoteVideo.srcObject = shown;
  };
  peer.onconnectionstatechange = () => {
    if (peer !== pc || over) return;
    const state = peer.connectionState;
    if (state === "connected") {
      setState("connected");
      send({ type: "state", state: "connected" });
    } else if (state === "failed") {
      setState("failed");
      send({ type: "state", state: "failed", reason: "ice" });
    } else if (state === "disconnected") {
      setState("connecting");
      send({ type: "state", state: "disconnected" });
    }
  };
  return peer;
}

function addLocalTracks(peer) {
  if (!stream || peer.getSenders().some((s) => s.track)) return;
  for (const track of stream.getTracks()) {
    const sender = peer.addTrack(track, stream);
    if (track.kind === "video") videoSender = sender;
  }
}

async function addCandidate(peer, candidate) {
  try {
    await (candidate ? peer.addIceCandidate(candidate) : peer.addIceCandidate());
  } catch (err) {
    console.warn("video: a candidate was not accepted", err);
  }
}

async function onOffer(sdp) {
  // A renegotiation (an ICE restart) of the same session keeps the connection; a fresh offer from a new
  // connection on the nurse's side (another DTLS fingerprint) needs a new one here too.
  const same = pc && pc.remoteDescription && fingerprint(pc.remoteDescription.sdp) === fingerprint(sdp);
  const kept = pending;
  const peer = same ? pc : newPeer();
  if (!same) pending = kept;
  peer.answered = false;  // a renegotiation's new candidates also wait for its answer
  setState("connecting");
  await peer.setRemoteDescription({ type: "offer", sdp });
  addLocalTracks(peer);  // after the offer: the tracks take the offer's transceivers (sendrecv)
  for (const candidate of pending.splice(0)) await addCandidate(peer, candidate);
  const answer = await peer.createAnswer();
  await peer.setLocalDescription(answer);
  if (peer !== pc) return;
  send({ type: "answer", sdp: peer.localDescription.sdp });
  peer.answered = true;
  for (const message of peer.outgoing.splice(0)) send(message);
}

async function onCandidate(candidate) {
  if (!pc || !pc.remoteDescription) {
    if (pending.length < MAX_PENDING) pending.push(candidate);
    return;
  }
  await addCandidate(pc, candidate);
}

// --- the socket ----------------------------------------------------------------------------------------------

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${section.dataset.wsPath}`;
}

function connect() {
  if (over) return;
  setState("connecting");
  const socket = new WebSocket(socketUrl());
  let opened = false;
  ws = socket;
  socket.onopen = () => {
    opened = true;
    retries = 0;
  };
  socket.onmessage = (event) => {
    if (socket !== ws) return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    work = work.then(() => handle(message)).catch((err) => console.warn("video: message failed", err));
  };
  socket.onclose = (event) => {
    if (socket !== ws) return;
    ws = null;
    onClosed(event.code, opened);
  };
}

async function handle(message) {
  if (over) return;
  switch (message.type) {
    case "hello":
      if (endWanted) {
        send({ type: "end" });
        break;
      }
      iceServers = Array.isArray(message.ice_servers) ? message.ice_servers : [];
      dropPeer();
      setState(message.peer_present ? "connecting" : "waiting");
      break;
    case "peer":
      // The nurse (re)joined: her fresh offer follows. She left: wait for her.
      dropPeer();
      setState(message.present ? "connecting" : "waiting");
      break;
    case "offer":
      try {
        await onOffer(message.sdp);
      } catch (err) {
        // A broken offer must not leave the page on "connecting": both sides hear of it, the nurse may offer again.
        console.warn("video: the offer could not be answered", err);
        setState("failed");
        send({ type: "state", state: "failed", reason: "answer" });
      }
      break;
    case "candidate":
      await onCandidate(message.candidate);
      break;
    case "ended":
      finish("ended", `ended_${message.by}`);
      break;
    case "replaced":
      finish("ended", "replaced");
      break;
    default:
      break;  // pong, error
  }
}

async function onClosed(code, opened) {
  if (over) return;
  dropPeer();
  if (!opened) {
    // Refused at the handshake (the browser does not say why): the page's own status tells.
    let status = 0;
    try {
      status = (await fetch(location.pathname, { method: "HEAD", cache: "no-store", credentials: "omit" })).status;
    } catch (err) {
      status = 0;
    }
    if (status === 404 || status === 410) {
      finish("closed");
      return;
    }
  }
  if (code === 4409) {  // a newer tab of this link took over: coming back would push it out again
    finish("ended", "replaced");
    return;
  }
  if (code === 1000 || code === 1008 || retries >= MAX_RETRIES) {
    finish(code === 1000 ? "ended" : "failed");
    return;
  }
  retries += 1;
  setState("connecting", "retry");
  setTimeout(connect, 1000 * 2 ** (retries - 1));
}

function finish(state, textKey) {
  over = true;
  dropPeer();
  if (stream) {
    for (const track of stream.getTracks()) track.stop();
    stream = null;
  }
  localVideo.srcObject = null;
  for (const name of ["start", "switch", "mute", "end"]) buttons[name].hidden = true;
  if (ws) {
    const socket = ws;
    ws = null;
    try {
      socket.close(1000);
    } catch (err) {
      // closed already
    }
  }
  setState(state, TEXTS[textKey] ? textKey : state);
}

function end() {
  buttons.end.disabled = true;
  // Sent now, and again on a reconnect's hello (the socket may drop right after), so the nurse's side ends too.
  endWanted = true;
  const open = ws && ws.readyState === WebSocket.OPEN;
  if (open) send({ type: "end" });
  setTimeout(() => { if (!over) finish("ended", "ended_caller"); }, open ? END_GRACE_MS : END_AWAY_MS);
}

buttons.start.addEventListener("click", start);
buttons.switch.addEventListener("click", switchCamera);
buttons.mute.addEventListener("click", toggleMic);
buttons.end.addEventListener("click", end);
// Leaving the page closes the socket without `end`: the nurse sees the caller gone, and the caller may come
// back through the link.
window.addEventListener("pagehide", () => {
  if (ws) ws.close(1000);
});
window.videoPeer = null;
setState("idle");
