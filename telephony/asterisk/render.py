"""Asterisk configuration for one run, rendered from `AsteriskRunConfig`.

Every run (make run, each test session) gets its own directory with its own asterisk.conf,
whose [directories] point at per-run etc/run/log/spool/db folders, so runs never share
ports, sockets or state. Only the modules we use are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

# Loaded explicitly (autoload=no): what the Stasis app, PJSIP callers, WebRTC nurses and
# prompts need. Keep this list short; every module is boot time and attack surface.
MODULES: tuple[str, ...] = (
    "res_timing_timerfd.so",
    "res_pjproject.so",
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_http_websocket.so",
    "res_websocket_client.so",
    "res_curl.so",
    "res_crypto.so",
    "res_srtp.so",
    "res_rtp_asterisk.so",
    "res_pjsip.so",
    "res_pjsip_session.so",
    "res_pjsip_sdp_rtp.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_outbound_authenticator_digest.so",
    "res_pjsip_registrar.so",
    "res_pjsip_caller_id.so",
    "res_pjsip_dtmf_info.so",
    "res_pjsip_nat.so",
    "res_pjsip_rfc3326.so",
    "res_pjsip_transport_websocket.so",
    "res_pjsip_pubsub.so",
    "chan_pjsip.so",
    "res_stasis.so",
    "res_stasis_answer.so",
    "res_stasis_playback.so",
    "res_stasis_recording.so",
    "res_stasis_snoop.so",
    "res_stasis_device_state.so",
    "res_ari.so",
    "res_ari_model.so",
    "res_ari_applications.so",
    "res_ari_asterisk.so",
    "res_ari_bridges.so",
    "res_ari_channels.so",
    "res_ari_endpoints.so",
    "res_ari_events.so",
    "res_ari_playbacks.so",
    "res_ari_recordings.so",
    "res_ari_sounds.so",
    "res_ari_device_states.so",
    "res_http_media_cache.so",
    "res_musiconhold.so",
    "app_stasis.so",
    "app_playback.so",
    "app_dial.so",
    "app_echo.so",
    "app_verbose.so",
    "pbx_config.so",
    "func_callerid.so",
    "func_channel.so",
    "func_logic.so",
    "func_strings.so",
    "func_math.so",
    "bridge_simple.so",
    "bridge_softmix.so",
    "bridge_native_rtp.so",
    "bridge_holding.so",
    "codec_ulaw.so",
    "codec_alaw.so",
    "codec_a_mu.so",
    "codec_resample.so",
    "codec_opus_open_source.so",
    "res_format_attr_opus.so",
    "format_wav.so",
    "format_pcm.so",
    "format_sln.so",
)


# Swedish call-progress tones (what a caller hears as ringback while the app is retried).
INDICATIONS = """[general]
country = se

[se]
description = Sweden
ringcadence = 1000,5000
dial = 425
busy = 425/250,0/250
ring = 425/1000,0/5000
congestion = 425/250,0/750
callwaiting = 425/200,0/500,425/200,0/9100
"""


@dataclass(frozen=True)
class AsteriskRunConfig:
    """What differs between runs. Paths are as Asterisk sees them (inside its root)."""

    run_dir: PurePosixPath
    app_name: str
    ari_user: str
    ari_password: str
    http_port: int
    sip_port: int
    rtp_start: int
    rtp_end: int
    bind_address: str = "127.0.0.1"
    caller_networks: tuple[str, ...] = ("127.0.0.1/32",)
    moddir: str = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
    stasis_retries: int = 5
    outbound_trunk: str = ""  # host:port of the operator's SIP trunk, for transfers to external numbers
    tls_port: int | None = None  # HTTPS/WSS beside the plain HTTP port, with the certificate at tls_cert/tls_key
    modules: tuple[str, ...] = field(default=MODULES)

    @property
    def etc(self) -> PurePosixPath:
        return self.run_dir / "etc"

    @property
    def cache(self) -> PurePosixPath:
        """Asterisk's media cache. Kept short on purpose: Asterisk 22 looks a cached file up
        in a buffer sized from the media URI, so a cache path longer than the URI is cut off
        and the playback fails ("does not exist in any format")."""
        return PurePosixPath("/var/cache") / f"vl-{self.run_dir.name[-6:]}"

    @property
    def sounds(self) -> PurePosixPath:
        return self.run_dir / "sounds"

    @property
    def asterisk_conf(self) -> PurePosixPath:
        return self.etc / "asterisk.conf"

    @property
    def tls_cert(self) -> PurePosixPath:
        """Where the run's copy of the app's certificate is: Asterisk in its root cannot read
        paths outside it."""
        return self.run_dir / "keys" / "tls-cert.pem"

    @property
    def tls_key(self) -> PurePosixPath:
        return self.run_dir / "keys" / "tls-key.pem"


def render(cfg: AsteriskRunConfig) -> dict[str, str]:
    """File name → content of every configuration file of the run."""
    d = cfg.run_dir
    files = {
        "asterisk.conf": f"""[directories]
astcachedir => {cfg.cache}
astetcdir => {cfg.etc}
astmoddir => {cfg.moddir}
astvarlibdir => /var/lib/asterisk
astdbdir => {d}/db
astkeydir => {d}
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {d}/spool
astrundir => {d}/run
astlogdir => {d}/log
astsbindir => /usr/sbin

[options]
; runuser/rungroup stay unset: the per-run directories belong to root.
verbose = 3
debug = 0
transmit_silence = yes
documentation_language = en_US
hideconnect = yes
""",
        "modules.conf": "[modules]\nautoload = no\n" + "".join(f"load = {m}\n" for m in cfg.modules),
        "logger.conf": """[general]
dateformat = %F %T.%3q

[logfiles]
messages.log => notice,warning,error,verbose(3)
console => notice,warning,error
""",
        "http.conf": f"""[general]
enabled = yes
bindaddr = {cfg.bind_address}
bindport = {cfg.http_port}
""" + _http_tls(cfg),
        "ari.conf": f"""[general]
enabled = yes
pretty = no

[{cfg.ari_user}]
type = user
read_only = no
password = {cfg.ari_password}
""",
        "rtp.conf": f"""[general]
rtpstart = {cfg.rtp_start}
rtpend = {cfg.rtp_end}
icesupport = yes
""",
        "manager.conf": "[general]\nenabled = no\n",
        # Nurse endpoints are pushed at run time through ARI's dynamic configuration,
        # which needs a writable sorcery store next to the static file.
        "sorcery.conf": """[res_pjsip]
endpoint = config,pjsip.conf,criteria=type=endpoint
endpoint = astdb,vardlinje_endpoint
aor = config,pjsip.conf,criteria=type=aor
aor = astdb,vardlinje_aor
auth = config,pjsip.conf,criteria=type=auth
auth = astdb,vardlinje_auth
""",
        "pjsip.conf": _pjsip(cfg),
        "extensions.conf": _extensions(cfg),
        # A nurse's hold (her re-INVITE) makes chan_pjsip start the caller's music on hold: the same
        # music the queue plays (rendered by the app into the run's sounds before Asterisk starts).
        "musiconhold.conf": f"[general]\n\n[default]\nmode = playlist\nentry = {cfg.sounds}/music\n",
        "indications.conf": INDICATIONS,
        "acl.conf": "",
        "udptl.conf": "[general]\n",
        "pjproject.conf": "",
        "ccss.conf": "",
        "features.conf": "[general]\n",
        "cdr.conf": "[general]\nenable = no\n",
        "cel.conf": "[general]\nenable = no\n",
        "websocket_client.conf": "",
        "res_http_media_cache.conf": "[general]\n",
    }
    return files


def _http_tls(cfg: AsteriskRunConfig) -> str:
    # One HTTP server, two listeners: the plain one keeps ARI on loopback for the app; the TLS one
    # serves the same /ws, so pjsip's transport-ws answers browsers on wss:// too.
    if cfg.tls_port is None:
        return ""
    return f"""tlsenable = yes
tlsbindaddr = {cfg.bind_address}:{cfg.tls_port}
tlscertfile = {cfg.tls_cert}
tlsprivatekey = {cfg.tls_key}
; TLS 1.2 or newer, like the app (TLS 1.0 is off by default).
tlsdisablev1 = yes
tlsdisablev11 = yes
"""


def _pjsip(cfg: AsteriskRunConfig) -> str:
    matches = "".join(f"match = {net}\n" for net in cfg.caller_networks)
    return f"""[global]
type = global
user_agent = Vardlinje
; Nurses' phones first by their user name: a softphone on the callers' host must not be
; taken for the caller trunk (nurse endpoints need their digest password anyway).
endpoint_identifier_order = username,ip

[transport-udp]
type = transport
protocol = udp
bind = {cfg.bind_address}:{cfg.sip_port}

[transport-ws]
type = transport
protocol = ws
bind = {cfg.bind_address}

; Callers: the SIP trunk (or a local softphone) identified by its address.
[callers]
type = endpoint
transport = transport-udp
context = from-callers
disallow = all
allow = alaw,ulaw
direct_media = no
rtp_symmetric = yes
send_connected_line = no
; An address, not a name: no per-call DNS lookup inside the root.
media_address = {cfg.bind_address}
bind_rtp_to_media_address = yes
; RFC 4733 when the trunk offers telephone-event, else SIP INFO.
dtmf_mode = auto_info

[callers-identify]
type = identify
endpoint = callers
{matches}{_trunk(cfg)}"""


def _trunk(cfg: AsteriskRunConfig) -> str:
    if not cfg.outbound_trunk:
        return ""
    return f"""
; The operator's trunk, for the IVR's transfers to external numbers.
[trunk-out]
type = endpoint
transport = transport-udp
context = from-callers
aors = trunk-out
disallow = all
allow = alaw,ulaw
direct_media = no
send_connected_line = no
media_address = {cfg.bind_address}
bind_rtp_to_media_address = yes

[trunk-out]
type = aor
contact = sip:{cfg.outbound_trunk}
"""


def _extensions(cfg: AsteriskRunConfig) -> str:
    # Stasis() fails at once (STASISSTATUS=FAILED) while no app instance is connected, e.g.
    # during a restart or leader hand-over. Retry for a few seconds with ringback, then tell
    # the caller and retry once more, then give the safe advice and hang up.
    return f"""[general]
static = yes
writeprotect = yes

[globals]
VL_APP = {cfg.app_name}
VL_SOUNDS = {cfg.sounds}
VL_TRUNK = {"trunk-out" if cfg.outbound_trunk else ""}

[from-callers]
exten => _[+0-9].,1,NoOp(Vardlinje: call to ${{EXTEN}} from ${{CALLERID(num)}})
 same => n,Set(VL_TRIES=0)
 same => n(stasis),Stasis(${{VL_APP}},${{EXTEN}})
 same => n,GotoIf($["${{STASISSTATUS}}" != "FAILED"]?done)
 same => n,Set(VL_TRIES=$[${{VL_TRIES}} + 1])
 same => n,GotoIf($[${{VL_TRIES}} > {cfg.stasis_retries}]?fallback)
 same => n,Ringing()
 same => n,Wait(1)
 same => n,Goto(stasis)
 same => n(fallback),Log(WARNING,Vardlinje app unavailable for ${{CHANNEL}} - fallback)
 same => n,Goto(vardlinje-fallback,s,1)
 same => n(done),Hangup()

[vardlinje-fallback]
; The safe path when the app cannot take the call, or a handler failed.
exten => s,1,Answer()
 same => n,Playback(${{VL_SOUNDS}}/fallback-retry)
 same => n,Stasis(${{VL_APP}},fallback)
 same => n,GotoIf($["${{STASISSTATUS}}" != "FAILED"]?done)
 same => n,Playback(${{VL_SOUNDS}}/fallback-final)
 same => n(done),Hangup()
; Where the app sends a caller whose second attempt also failed.
exten => final,1,Answer()
 same => n,Playback(${{VL_SOUNDS}}/fallback-final)
 same => n,Hangup()

[from-nurses]
; Calls placed by nurses' phones are not handled yet (routing calls them, not the reverse).
exten => _X.,1,Hangup(21)
exten => _+X.,1,Hangup(21)

[vardlinje-transfer]
; The IVR's transfer node: dial the number through the operator's trunk. When that fails (or
; no trunk is configured) the caller is told and goes back to the app, which queues them
; for a nurse: a transfer never ends in silence.
exten => _+X.,1,NoOp(Vardlinje: transfer to ${{EXTEN}})
 same => n,GotoIf($["${{VL_TRUNK}}" = ""]?failed)
 same => n,Dial(PJSIP/${{EXTEN}}@${{VL_TRUNK}},60)
 same => n,GotoIf($["${{DIALSTATUS}}" = "ANSWER"]?done)
 same => n(failed),Playback(${{VL_SOUNDS}}/transfer-failed)
 same => n,Stasis(${{VL_APP}},transfer-failed)
 same => n,GotoIf($["${{STASISSTATUS}}" != "FAILED"]?done)
 same => n,Goto(vardlinje-fallback,s,1)
 same => n(done),Hangup()
"""
