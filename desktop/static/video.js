// The nurse's side of a video room with the caller's phone (docs/escalation.md, "Video").
//
// Signalling goes over the app's WebSocket `/api/v1/media/video/{link}/ws` (her session); the media goes
// browser to browser (STUN/TURN from the server's hello), never through the server. She is the offerer:
// whenever the caller's page joins (or joins again after a dropped connection) she starts a fresh peer
// connection and sends an offer. The room's microphones start off — the voice stays on the phone call.
//
// Events (CustomEvent, detail in brackets): "state" {state, by?}: idle → waiting → connecting → connected,
// and ended/failed at the end; "camera" {local: boolean}: whether she sends video.

const RECONNECTS = 5; // the room's socket is tried again this many times before the video counts as failed
const PING_MS = 15000;

export class VideoRoom extends EventTarget {
  constructor({ linkId, localVideo, remoteVideo }) {
    super();
    this.linkId = linkId;
    this.localVideo = localVideo;
    this.remoteVideo = remoteVideo;
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
  }

  start() {
    this.set("waiting");
    this.open();
  }

  /** She ends the video: the server tells both sides and closes the room. */
  end() {
    if (this.over) return;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.send({ type: "end" });
    else this.finish("ended", "nurse");
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
    ws.addEventListener("open", () => {
      this.attempts = 0;
      this.ping = setInterval(() => this.send({ type: "ping" }), PING_MS);
    });
    ws.addEventListener("message", (e) => {
      let message;
      try { message = JSON.parse(e.data); } catch { return; }
      this.receive(message).catch((err) => this.fail(err));
    });
    ws.addEventListener("close", () => {
      clearInterval(this.ping);
      if (this.ws !== ws || this.over) return;
      // The room lives on the server: a dropped socket (network, another instance) is opened again.
      if (++this.attempts > RECONNECTS) {
        this.finish("failed", null);
        return;
      }
      setTimeout(() => !this.over && this.open(), Math.min(8, 2 ** this.attempts) * 500 * (0.5 + Math.random()));
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  async receive(m) {
    if (m.type === "hello") {
      this.iceServers = m.ice_servers || [];
      await this.camera();
      if (m.peer_present) await this.negotiate();
    } else if (m.type === "peer") {
      if (m.present) await this.negotiate();
      else {
        this.closePeer();
        this.set("waiting");
      }
    } else if (m.type === "answer" && this.pc) {
      await this.pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
      for (const candidate of this.pending.splice(0)) await this.addCandidate(candidate);
    } else if (m.type === "candidate" && this.pc) {
      if (this.pc.remoteDescription) await this.addCandidate(m.candidate);
      else this.pending.push(m.candidate);
    } else if (m.type === "ended") {
      this.finish("ended", m.by || null);
    } else if (m.type === "replaced") {
      this.finish("ended", "replaced"); // she opened the room in another tab
    } else if (m.type === "error") {
      console.warn("video room:", m.code, m.message);
    }
  }

  async addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate || null);
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
    const tracks = this.local ? this.local.getTracks() : [];
    for (const track of tracks) pc.addTrack(track, this.local);
    for (const kind of ["audio", "video"]) {
      if (!tracks.some((track) => track.kind === kind)) pc.addTransceiver(kind, { direction: "recvonly" });
    }
    pc.addEventListener("icecandidate", (e) => {
      this.send({ type: "candidate", candidate: e.candidate ? e.candidate.toJSON() : null });
    });
    pc.addEventListener("track", (e) => {
      if (this.remoteVideo.srcObject !== e.streams[0]) this.remoteVideo.srcObject = e.streams[0] || new MediaStream([e.track]);
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
    await pc.setLocalDescription(offer);
    this.send({ type: "offer", sdp: offer.sdp });
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
    console.warn("video room:", err);
    this.set("failed");
    this.send({ type: "state", state: "failed", reason: String(err && err.message || err).slice(0, 200) });
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
