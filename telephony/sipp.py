"""A real SIP caller, driven through sipp: used by `vardlinje call` and the integration tests.

The scenario calls a number, waits for the far end to answer and later hang up (as the
IVR's goodbye does), and answers the BYE. `-key caller …` sets the caller number.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Vardlinje caller: call, wait for the far end to hang up">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Subject: Vardlinje test call
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
[media]
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
[steps]
  <ResponseTimeRepartition value="100, 500, 1000"/>
</scenario>
"""


MEDIA_RFC4733 = """      m=audio [media_port] RTP/AVP 8 0 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
"""
# Keys are sent as SIP INFO (application/dtmf-relay); without telephone-event in the offer,
# Asterisk (dtmf_mode=auto_info) expects them that way.
MEDIA_INFO = """      m=audio [media_port] RTP/AVP 8 0
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
"""

INFO = """  <pause milliseconds="{pause}"/>
  <send>
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: [cseq] INFO
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
"""

WAIT_BYE = """  <recv request="BYE" timeout="{hold_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
"""

SEND_BYE = """  <pause milliseconds="{hold_ms}"/>
  <send>
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: [cseq] BYE
      Contact: <sip:[caller]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"""


# --- a nurse's phone (sipp as a UAS registered to her endpoint; tests and benchmarks) ----------------
# Format PHONE_REGISTER with user= and password=; run each from an address other than the callers'.

PHONE_REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="nurse phone: REGISTER with digest authentication">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{user}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Expires: 300
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{user}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:{user}@[local_ip]:[local_port]>
      [authentication username={user} password={password}]
      Expires: 300
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""

_REPLY_HEADERS = """      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>"""

PHONE_ANSWERS = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Vardlinje nurse phone: rings, answers, waits for the BYE">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
{_REPLY_HEADERS}
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="1500"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
{_REPLY_HEADERS}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=nurse 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
{_REPLY_HEADERS}
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

PHONE_NEVER_ANSWERS = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="Vardlinje nurse phone: rings until Asterisk gives up">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
{_REPLY_HEADERS}
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
{_REPLY_HEADERS}
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [cseq] INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""


def scenario(keys: list[tuple[float, str]], *, hang_up_after: float | None, hold_seconds: float) -> str:
    """The caller's script: after answer, press each key after its pause (seconds), then
    either wait for the far end's BYE or hang up after `hang_up_after` seconds."""
    steps = "".join(INFO.format(pause=int(p * 1000), digit=d) for p, d in keys)
    if hang_up_after is None:
        steps += WAIT_BYE.format(hold_ms=int(hold_seconds * 1000))
    else:
        steps += SEND_BYE.format(hold_ms=int(hang_up_after * 1000))
    media = MEDIA_INFO if keys else MEDIA_RFC4733
    return SCENARIO.replace("[steps]", steps).replace("[media]", media)


@dataclass
class SippResult:
    returncode: int
    seconds: float
    output: str
    errors: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _free_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def place_call(
    host: str,
    port: int,
    number: str,
    *,
    caller: str = "+46701234567",
    hold_seconds: float = 60.0,
    keys: list[tuple[float, str]] | None = None,
    hang_up_after: float | None = None,
    sipp: str | None = None,
    rtp_echo: bool = False,
) -> SippResult:
    """Call `number` at host:port, press `keys` ((pause seconds, key) pairs), then wait until
    the far end hangs up, or hang up after `hang_up_after` seconds. sipp exit 0 means the
    call went exactly that way. `rtp_echo`: sipp sends every RTP packet it receives back to its
    sender, so the far end's counters prove that the caller received audio."""
    binary = sipp or shutil.which("sipp")
    if binary is None:
        raise FileNotFoundError("sipp is missing: apt-get install sip-tester")
    with tempfile.TemporaryDirectory(prefix="vardlinje-sipp-") as tmp:
        script = Path(tmp) / "call.xml"
        script.write_text(scenario(keys or [], hang_up_after=hang_up_after, hold_seconds=hold_seconds))
        errors = Path(tmp) / "errors.log"
        cmd = [
            binary, f"{host}:{port}", "-sf", str(script), "-s", number, "-key", "caller", caller,
            "-m", "1", "-l", "1", "-i", "127.0.0.1", "-p", str(_free_udp()), "-cp", str(_free_udp()),
            "-mp", str(_free_udp()), "-timeout", f"{int(hold_seconds + (hang_up_after or 0) + sum(p for p, _ in keys or [])) + 30}s", "-timeout_error",
            "-nostdin", "-trace_err", "-error_file", str(errors),
        ] + (["-rtp_echo"] if rtp_echo else [])
        start = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=hold_seconds + (hang_up_after or 0) + sum(p for p, _ in keys or []) + 60, cwd=tmp)
        seconds = time.monotonic() - start
        err_text = errors.read_text(errors="replace") if errors.exists() else ""
        return SippResult(done.returncode, seconds, (done.stdout + done.stderr)[-4000:], err_text[-4000:])
