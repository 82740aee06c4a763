// Vårdlinje softphone: the nurse's browser phone.
//
// A thin wrapper around JsSIP.UA (loaded before this module as the global `JsSIP`, from
// vendor/jssip.min.js, which scripts/setup.sh builds from the npm package). It registers over
// WSS (ws:// only from http://127.0.0.1 in tests) to the nurse's PJSIP endpoint in Asterisk;
// calls are WebRTC audio: DTLS-SRTP, ICE, opus or G.711 as Asterisk offers.
//
//   import { Softphone } from "/static/softphone.js";
//   const phone = new Softphone({
//     server: "wss://pbx.example.se/ws", user: "nurse-17", password: "…", domain: "pbx.example.se",
//     iceServers: [{ urls: "stun:stun.example.se" }, { urls: "turn:turn.example.se", username: "u", credential: "p" }],
//   });
//   phone.addEventListener("incoming", (e) => phone.answer());
//   phone.addEventListener("warning", (e) => banner(e.detail.warning));   // null when cleared
//   phone.start();
//
// Events (CustomEvent, details in `detail`): connecting, connected, disconnected, registered,
// unregistered, registrationfailed, incoming {from, displayName}, accepted, confirmed,
// ended {originator, cause}, failed {originator, cause}, muted, unmuted, warning {warning},
// state {state}. `state` is one of: idle, connecting, connected, registered, unregistered,
// disconnected, failed.
//
// Network loss: JsSIP reconnects the WebSocket by itself (random back-off between
// `recovery.min` and `recovery.max` seconds) and registers again once it is back; until the
// phone is registered again `warning` is set, so the desktop shows that calls cannot reach the
// nurse. The browser's offline/online events set the warning at once and retry immediately.

const DEFAULTS = {
  server: "",            // WebSocket URL of Asterisk's SIP transport, e.g. wss://host:8089/ws
  user: "",              // SIP user = the nurse's endpoint name (nurse-<id>)
  password: "",
  domain: "",            // SIP domain; defaults to the server's host name
  displayName: "",
  iceServers: [],        // RTCIceServer list: STUN/TURN from the region's settings
  microphoneId: "",      // MediaDeviceInfo.deviceId, "" = the browser's default
  speakerId: "",         // audio output deviceId (setSinkId), "" = default
  autoAnswer: false,     // answer incoming calls at once (tests, "headset" mode)
  registerExpires: 300,  // seconds; JsSIP refreshes before expiry
  recovery: { min: 2, max: 30 }, // WebSocket reconnect back-off, seconds
  dtmfTransport: "RFC2833",      // RFC 4733 events in the media (Asterisk's default dtmf_mode)
  userAgent: "Vardlinje-Softphone",
  audioElement: null,    // <audio> to play the caller; one is created when absent
  debug: false,          // JsSIP's own console logging
};

export class Softphone extends EventTarget {
  constructor(options = {}) {
    super();
    this.config = { ...DEFAULTS, ...options, recovery: { ...DEFAULTS.recovery, ...(options.recovery || {}) } };
    this.JsSIP = this.config.jssip || globalThis.JsSIP;
    if (!this.JsSIP) throw new Error("JsSIP is not loaded: include vendor/jssip.min.js before softphone.js");
    if (!this.config.server || !this.config.user) throw new Error("Softphone needs server and user");
    this.state = "idle";
    this.warning = null;
    this.session = null;
    this.muted = false;
    this._ua = null;
    this._localStream = null;
    this.audio = this.config.audioElement || this._makeAudio();
    this._onOffline = () => this._setWarning("network-offline");
    this._onOnline = () => this._retryNow();
  }

  // -- lifecycle -------------------------------------------------------------------------

  start() {
    if (this._ua) return;
    const c = this.config;
    if (c.debug) this.JsSIP.debug.enable("JsSIP:*"); else this.JsSIP.debug.disable();
    const domain = c.domain || new URL(c.server).hostname;
    const socket = new this.JsSIP.WebSocketInterface(c.server);
    this._ua = new this.JsSIP.UA({
      sockets: [socket],
      uri: `sip:${c.user}@${domain}`,
      authorization_user: c.user,
      password: c.password,
      display_name: c.displayName || undefined,
      register: true,
      register_expires: c.registerExpires,
      connection_recovery_min_interval: c.recovery.min,
      connection_recovery_max_interval: c.recovery.max,
      session_timers: false, // Asterisk does not need them; rtp_timeout ends dead calls
      user_agent: c.userAgent,
    });
    const ua = this._ua;
    ua.on("connecting", () => this._setState("connecting"));
    ua.on("connected", () => this._setState("connected"));
    ua.on("disconnected", (e) => {
      if (this._ua !== ua) return; // stop() closed it on purpose
      this._setState("disconnected", { error: Boolean(e && e.error), code: e && e.code });
      this._setWarning("disconnected");
    });
    ua.on("registered", () => {
      this._setState("registered");
      this._setWarning(null);
    });
    // Also sent when the WebSocket drops: the state stays "disconnected" then.
    ua.on("unregistered", () => (ua.isConnected() ? this._setState("unregistered") : this._emit("unregistered")));
    ua.on("registrationFailed", (e) => {
      this._setState("failed", { cause: e.cause });
      this._emit("registrationfailed", { cause: e.cause });
      this._setWarning("registration-failed");
    });
    ua.on("newRTCSession", (e) => this._onSession(e));
    globalThis.addEventListener?.("offline", this._onOffline);
    globalThis.addEventListener?.("online", this._onOnline);
    ua.start();
  }

  /** Unregister and close the WebSocket (the nurse logs out). */
  stop() {
    globalThis.removeEventListener?.("offline", this._onOffline);
    globalThis.removeEventListener?.("online", this._onOnline);
    const ua = this._ua;
    this._ua = null;
    if (ua) ua.stop();
    this._setState("idle");
    this._setWarning(null);
    this._releaseMicrophone();
  }

  get registered() {
    return Boolean(this._ua && this._ua.isRegistered());
  }

  get inCall() {
    return Boolean(this.session && !this.session.isEnded());
  }

  // -- calls -----------------------------------------------------------------------------

  async answer() {
    const session = this.session;
    if (!session || session.direction !== "incoming" || session.isEstablished() || session.isEnded()) return false;
    // Our own stream, so the microphone choice holds and we can swap it during the call.
    this._localStream = await navigator.mediaDevices.getUserMedia({ audio: this._audioConstraint(), video: false });
    if (session.isEnded()) { this._releaseMicrophone(); return false; }
    session.answer({
      mediaStream: this._localStream,
      pcConfig: { iceServers: this.config.iceServers, rtcpMuxPolicy: "require", bundlePolicy: "max-bundle" },
      rtcAnswerConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
    });
    return true;
  }

  /** Hang up (or reject a ringing call, or cancel an outgoing one). */
  hangup() {
    if (this.session && !this.session.isEnded()) this.session.terminate();
  }

  mute() {
    if (!this.inCall) return;
    this.session.mute({ audio: true });
  }

  unmute() {
    if (!this.inCall) return;
    this.session.unmute({ audio: true });
  }

  /** Hold (re-INVITE with a=sendonly): Asterisk plays music on hold to the caller; `unhold()` resumes. */
  hold() {
    if (!this.inCall || !this.session.isEstablished()) return false;
    return this.session.hold();
  }

  unhold() {
    if (!this.inCall || !this.session.isEstablished()) return false;
    return this.session.unhold();
  }

  get onHold() {
    return Boolean(this.inCall && this.session.isOnHold().local);
  }

  sendDTMF(tones) {
    if (!this.inCall || !this.session.isEstablished()) return false;
    this.session.sendDTMF(String(tones), { transportType: this.config.dtmfTransport, duration: 120, interToneGap: 80 });
    return true;
  }

  /** Call a SIP URI or number through the nurse's endpoint (dial plan decides what it reaches). */
  async call(target) {
    if (!this._ua) throw new Error("Softphone not started");
    this._localStream = await navigator.mediaDevices.getUserMedia({ audio: this._audioConstraint(), video: false });
    return this._ua.call(target, {
      mediaStream: this._localStream,
      pcConfig: { iceServers: this.config.iceServers, rtcpMuxPolicy: "require", bundlePolicy: "max-bundle" },
      rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
    });
  }

  // -- devices ---------------------------------------------------------------------------

  /** Microphones and speakers; labels are only filled once the page may use the microphone. */
  static async devices() {
    const all = await navigator.mediaDevices.enumerateDevices();
    const pick = (kind) => all.filter((d) => d.kind === kind).map((d) => ({ id: d.deviceId, label: d.label }));
    return { microphones: pick("audioinput"), speakers: pick("audiooutput") };
  }

  /** Use another microphone, also in the running call (the sender's track is replaced). */
  async setMicrophone(deviceId) {
    this.config.microphoneId = deviceId || "";
    const pc = this.session && this.session.connection;
    if (!pc || !this.inCall) return;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: this._audioConstraint(), video: false });
    const track = stream.getAudioTracks()[0];
    track.enabled = !this.muted;
    const sender = pc.getSenders().find((s) => s.track && s.track.kind === "audio");
    if (sender) await sender.replaceTrack(track);
    this._releaseMicrophone();
    this._localStream = stream;
  }

  /** Play the caller on another output device (Chromium: HTMLMediaElement.setSinkId). */
  async setSpeaker(deviceId) {
    this.config.speakerId = deviceId || "";
    if (typeof this.audio.setSinkId === "function") await this.audio.setSinkId(this.config.speakerId);
  }

  /** Packet counters of the running call from RTCPeerConnection.getStats (audio only). */
  async stats() {
    const pc = this.session && this.session.connection;
    const out = { packetsReceived: 0, packetsSent: 0, bytesReceived: 0, bytesSent: 0, codec: null, dtls: null,
                  localAddress: null, remoteAddress: null, roundTripTime: null };
    if (!pc) return out;
    const report = await pc.getStats();
    const codecs = {};
    report.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        out.packetsReceived += s.packetsReceived || 0;
        out.bytesReceived += s.bytesReceived || 0;
        if (s.codecId) out.codec = codecs[s.codecId] || out.codec;
      } else if (s.type === "outbound-rtp" && s.kind === "audio") {
        out.packetsSent += s.packetsSent || 0;
        out.bytesSent += s.bytesSent || 0;
      } else if (s.type === "transport") {
        out.dtls = s.dtlsState || out.dtls;
        const pair = s.selectedCandidatePairId && report.get(s.selectedCandidatePairId);
        if (pair) {
          const local = report.get(pair.localCandidateId), remote = report.get(pair.remoteCandidateId);
          out.localAddress = local ? `${local.address}:${local.port} (${local.candidateType})` : null;
          out.remoteAddress = remote ? `${remote.address}:${remote.port} (${remote.candidateType})` : null;
          out.roundTripTime = pair.currentRoundTripTime ?? null;
        }
      }
    });
    return out;
  }

  // -- internals -------------------------------------------------------------------------

  _onSession(e) {
    const session = e.session;
    if (this.inCall) {
      // One call at a time: a second offer while busy is refused (routing should never send one).
      if (e.originator === "remote") session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    this.session = session;
    this.muted = false;
    session.on("peerconnection", (p) => this._watchTracks(p.peerconnection));
    if (session.connection) this._watchTracks(session.connection);
    session.on("accepted", () => this._emit("accepted"));
    session.on("confirmed", () => this._emit("confirmed"));
    session.on("muted", () => { this.muted = true; this._emit("muted"); });
    session.on("unmuted", () => { this.muted = false; this._emit("unmuted"); });
    session.on("hold", (ev) => ev.originator === "local" && this._emit("hold"));
    session.on("unhold", (ev) => ev.originator === "local" && this._emit("unhold"));
    const finish = (name) => (ev) => {
      if (this.session === session) this.session = null;
      this._releaseMicrophone();
      this.audio.srcObject = null;
      this._emit(name, { originator: ev.originator, cause: ev.cause });
    };
    session.on("ended", finish("ended"));
    session.on("failed", finish("failed"));
    if (e.originator === "remote") {
      const from = session.remote_identity;
      this._emit("incoming", { from: from.uri.user, displayName: from.display_name || "" });
      if (this.config.autoAnswer) this.answer().catch((err) => this._emit("error", { message: String(err) }));
    }
  }

  _watchTracks(pc) {
    pc.addEventListener("track", (t) => {
      const stream = t.streams && t.streams[0] ? t.streams[0] : new MediaStream([t.track]);
      this.audio.srcObject = stream;
      this.audio.play().catch(() => { /* autoplay refused: the desktop's answer click allows it */ });
    });
  }

  _audioConstraint() {
    const id = this.config.microphoneId;
    const base = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    return id ? { ...base, deviceId: { exact: id } } : base;
  }

  _releaseMicrophone() {
    if (this._localStream) this._localStream.getTracks().forEach((t) => t.stop());
    this._localStream = null;
  }

  _makeAudio() {
    if (typeof document === "undefined") return null;
    const audio = document.createElement("audio");
    audio.autoplay = true;
    audio.hidden = true;
    document.body.appendChild(audio);
    if (this.config.speakerId && audio.setSinkId) audio.setSinkId(this.config.speakerId).catch(() => {});
    return audio;
  }

  _retryNow() {
    // Back online: do not wait for JsSIP's back-off timer. A socket that survived the blip
    // needs nothing; the warning clears when the phone is (or gets) registered.
    const ua = this._ua;
    if (!ua) return;
    if (!ua.isConnected()) {
      const transport = ua.transport;
      if (transport && !transport.isConnecting()) transport.connect();
    } else if (ua.isRegistered()) {
      this._setWarning(null);
    } else {
      ua.register();
    }
  }

  _setWarning(warning) {
    if (this.warning === warning) return;
    this.warning = warning;
    this._emit("warning", { warning });
  }

  _setState(state, detail = {}) {
    this.state = state;
    this._emit(state, detail);
    this._emit("state", { state, ...detail });
  }

  _emit(name, detail = {}) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
