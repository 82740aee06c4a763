// The nurse's side of a video room with the caller's phone (docs/escalation.md, "Video").
//
// Signalling goes over the app's WebSocket `/api/v1/media/video/{link}/ws` (her session); the media goes
// browser to browser (STUN/TURN from the server's hello), never through the server. She is the offerer:
// whenever the caller's page joins (or joins again after a dropped connection) she starts a fresh peer
// connection and sends an offer. The room's microphones start off — the voice stays on the phone call.
//
// Messages are handled one after the other (an answer never overtakes the offer it answers), and every step
// after an await checks that its connection is still the current one: the caller may leave and come back
// while a step waits.
//
// Events (CustomEvent): "state" {state, by}: waiting → connecting → connected, and ended/failed at the end;
// "camera" {local}: whether she sends video.

const RECONNECTS = 5; // the room's socket is tried again this many times before the video counts as failed
const PING_MS = 15000;
const END_WAIT_MS = 10000; // her end pressed while the socket was away: sent when it is back, or given up

export class VideoRoom extends EventTarget {
  /** `isOver()`: asks the server whether the room was ended while her socket was away (the who, or null). */
  constructor({ linkId, localVideo, remoteVideo, isOver = async () => null }) {
    super();
    this.linkId = linkId;
    this.localVideo = localVideo;
    this.remoteVideo = remoteVideo;
    this.isOver = isOver;
    this.state = "idle";
    this.by = null; // who ended it
    this.ws = null;
    this.pc = null;
    this.local = null; // her camera (and microphone) stream, or null: she only watches
    this.iceServers = [];
    this.pending = []; // the caller's candidates that came before his answer
    this.micOn = false;
    this.cameraOn = true;
    this.attempts = 0;
    this.ping = null;
    this.over = false;
    this.ending = false;
    this.work = Promise.resolve();
  }

  start() {
    this.set("waiting");
    this.open();
  }

  /** She ends the video: the server tells both sides and closes the room. */
  end() {
    if (this.over) return;
    // Whatever happens to the socket now, the room does not come back to life: a reconnect sends the end
    // again (hello), and without an answer her camera goes off after a while all the same.
    this.ending = true;
    this.send({ type: "end" });
    setTimeout(() => this.finish("ended", "nurse"), END_WAIT_MS);
  }

  setMic(on) {
    this.micOn = on;
    for (const track of this.local ? this.local.getAudioTracks() : []) track.enabled = on;
  }

  setCamera(on) {
    this.cameraOn = on;
    for (const track of this.local ? this.local.getVideoTracks() : []) track.enabled = on;
  }

  // -- the socket ---------------------------------------------------------------------------------------------

  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/api/v1/media/video/${encodeURIComponent(this.linkId)}/ws`);
    this.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      this.ping = setInterval(() => this.send({ type: "ping" }), PING_MS);
    });
    ws.addEventListener("message", (e) => {
      if (this.ws !== ws) return;
      let message;
      try { message = JSON.parse(e.data); } catch { return; }
      this.work = this.work.then(() => this.receive(message)).catch((err) => this.fail(err));
    });
    ws.addEventListener("close", (e) => {
      clearInterval(this.ping);
      if (this.ws !== ws || this.over) return;
      this.closed(e.code, opened);
    });
  }

  async closed(code, opened) {
    await this.work.catch(() => {}); // an `ended` that came just before the close is handled first
    if (this.over) return;
    if (code === 4409) return this.finish("ended", "replaced"); // she opened the room in another tab
    if (code === 1008 || code === 4401) return this.finish("failed", null); // refused by policy, session over
    if (!opened) {
      // Refused at the handshake (a browser does not say why): ended while her socket was away?
      const by = await this.isOver().catch(() => null);
      if (by) return this.finish("ended", by);
    }
    // The room lives on the server: a dropped socket (network, another instance) is opened again.
    if (++this.attempts > RECONNECTS) return this.finish("failed", null);
    this.set(this.state === "connected" ? "connected" : "connecting");
    setTimeout(() => !this.over && this.open(), Math.min(8, 2 ** this.attempts) * 500 * (0.5 + Math.random()));
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  async receive(m) {
    if (this.over) return;
    if (m.type === "hello") {
      this.attempts = 0; // in the room again: only now has the reconnect worked
      this.iceServers = m.ice_servers || [];
      if (this.ending) {
        this.send({ type: "end" });
        return;
      }
      await this.camera();
      if (m.peer_present) await this.negotiate();
      else {
        this.closePeer();
        this.set("waiting");
      }
    } else if (m.type === "peer") {
      if (m.present) await this.negotiate();
      else {
        this.closePeer();
        this.set("waiting");
      }
    } else if (m.type === "answer") {
      const pc = this.pc;
      // Only the answer to the offer now outstanding: one to an older offer is for a connection gone.
      if (!pc || pc.signalingState !== "have-local-offer") return;
      await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
      if (pc !== this.pc) return;
      for (const candidate of this.pending.splice(0)) await this.addCandidate(pc, candidate);
    } else if (m.type === "candidate") {
      if (!this.pc) return;
      if (this.pc.remoteDescription) await this.addCandidate(this.pc, m.candidate);
      else this.pending.push(m.candidate);
    } else if (m.type === "ended") {
      this.finish("ended", m.by || null);
    } else if (m.type === "replaced") {
      this.finish("ended", "replaced");
    } else if (m.type === "error") {
      console.warn("video room:", m.code, m.message);
    }
  }

  async addCandidate(pc, candidate) {
    try {
      await pc.addIceCandidate(candidate || undefined);
    } catch (err) {
      console.warn("video room: candidate refused", err); // one bad candidate does not end the video
    }
  }

  // -- media --------------------------------------------------------------------------------------------------

  async camera() {
    if (this.local) return;
    for (const constraints of [{ video: true, audio: true }, { video: true }, { audio: true }]) {
      try {
        this.local = await navigator.mediaDevices.getUserMedia(constraints);
        break;
      } catch (err) {
        // no camera or no permission: try less, and at worst she only watches
      }
    }
    if (this.over) {
      for (const track of this.local ? this.local.getTracks() : []) track.stop();
      return;
    }
    this.setMic(this.micOn);
    this.setCamera(this.cameraOn);
    this.localVideo.srcObject = this.local;
    this.dispatchEvent(new CustomEvent("camera", { detail: { local: Boolean(this.local && this.local.getVideoTracks().length) } }));
  }

  async negotiate() {
    this.closePeer();
    this.set("connecting");
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    window.videoPeer = pc; // the browser test reads its statistics
    // The caller only answers: the offer carries an audio and a video section he can send on.
    const tracks = this.local ? this.local.getTracks() : [];
    for (const track of tracks) pc.addTrack(track, this.local);
    for (const kind of ["audio", "video"]) {
      if (!tracks.some((track) => track.kind === kind)) pc.addTransceiver(kind, { direction: "recvonly" });
    }
    pc.addEventListener("icecandidate", (e) => {
      if (pc !== this.pc) return;
      const c = e.candidate;
      // Exactly the fields the server accepts (it refuses extra ones).
      this.send({ type: "candidate", candidate: c ? { candidate: c.candidate, sdpMid: c.sdpMid,
        sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment } : null });
    });
    pc.addEventListener("track", (e) => {
      if (pc !== this.pc) return;
      const stream = e.streams[0] || new MediaStream([e.track]);
      if (this.remoteVideo.srcObject !== stream) this.remoteVideo.srcObject = stream;
    });
    pc.addEventListener("connectionstatechange", () => {
      if (this.pc !== pc || this.over) return;
      const state = pc.connectionState;
      if (state === "connected" || state === "failed" || state === "disconnected") this.send({ type: "state", state });
      if (state === "connected") this.set("connected");
      else if (state === "failed") this.set("failed");
      else if (state === "disconnected") this.set("connecting");
    });
    const offer = await pc.createOffer();
    if (pc !== this.pc) return;
    await pc.setLocalDescription(offer);
    if (pc !== this.pc) return;
    this.send({ type: "offer", sdp: pc.localDescription.sdp });
  }

  closePeer() {
    this.pending = [];
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
    this.remoteVideo.srcObject = null;
  }

  fail(err) {
    if (this.over) return;
    console.warn("video room:", err);
    this.set("failed");
    this.send({ type: "state", state: "failed", reason: String((err && err.message) || err).slice(0, 200) });
  }

  finish(state, by) {
    if (this.over) return;
    this.over = true;
    this.by = by;
    clearInterval(this.ping);
    this.closePeer();
    for (const track of this.local ? this.local.getTracks() : []) track.stop();
    this.local = null;
    this.localVideo.srcObject = null;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
    this.set(state);
  }

  set(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, by: this.by } }));
  }
}
