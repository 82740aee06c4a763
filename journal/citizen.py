"""The citizen's token: who is asking for their own journal notes. Pure; no network.

The citizen logs in at the region's e-service identity provider (BankID behind e.g. an OpenID Connect
provider), which gives our API a JWT (`Authorization: Bearer …`). We verify it with the provider's public key,
configured as a PEM file: never fetched (no JWKS over the network), so a DNS or TLS failure cannot hand
someone else's key to us, and a key change is a deliberate configuration change.

Only asymmetric algorithms are accepted. `none` and HMAC (HS*) are refused outright: with HS256 a forger could
"sign" with our *public* key as the shared secret (key confusion). The token's `alg` must also fit the key's
type (RS*/PS* with RSA, ES* with EC, EdDSA with Ed25519/Ed448).

Time: PyJWT checks exp, nbf and iat against the wall clock with no way to pass another time, so we turn those
three checks off in PyJWT and make them here against the caller's `now` (with `leeway_seconds`). PyJWT still
requires exp, iat, iss and aud to be present, and checks the signature, issuer and audience.

The identity claim (`subject_claim`) holds the personnummer. Common names: `personal_identity_number`
(our default), `https://id.oidc.se/claim/personalIdentityNumber` (the Swedish OIDC profile, oidc-sweden),
`personalIdentityNumber`, `ssn` (some BankID brokers) or `sub` when the provider puts it there. A
samordningsnummer in that claim is accepted too (people without a personnummer may have journal notes; day
61–91 keeps it distinguishable) and is returned normalised to 12 digits like a personnummer. In the Swedish
OIDC profile the samordningsnummer has a claim of its own (`…/coordinationNumber`): point `subject_claim` at
whichever one the provider fills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from .patient import PatientIdError, check_patient_id
from .records import PatientIdKind

CitizenTokenErrorCode = Literal["malformed", "bad_signature", "expired", "not_yet_valid", "wrong_issuer",
                                "wrong_audience", "missing_claim", "bad_identity", "too_long", "algorithm",
                                "config"]

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
_PUBLIC_KEY_TYPES = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)

SWEDEN = ZoneInfo("Europe/Stockholm")  # "today" for the date-of-birth check is the Swedish date
MIN_RSA_BITS = 2048

#: The algorithms that may be configured, by the key type they need.
_KEY_TYPES: dict[str, tuple[type[Any], ...]] = {
    **{alg: (rsa.RSAPublicKey,) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    **{alg: (ec.EllipticCurvePublicKey,) for alg in ("ES256", "ES384", "ES512")},
    "EdDSA": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
}


class CitizenTokenError(Exception):
    """A token (or the configuration to check it) that cannot be accepted. `str()` is "Svenska / English"."""

    def __init__(self, code: CitizenTokenErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: CitizenTokenErrorCode = code
        self.message = message


@dataclass(frozen=True)
class CitizenTokenConfig:
    issuer: str  # the provider's `iss`, exactly
    audience: str  # the `aud` the provider puts in tokens meant for us
    public_key_pem: str  # the provider's signing key (RSA or EC), PEM; see load_public_key
    algorithms: tuple[str, ...] = ("RS256", "ES256")  # asymmetric only; never none/HS*
    subject_claim: str = "personal_identity_number"  # the claim with the personnummer (module docstring)
    leeway_seconds: int = 30  # clock skew allowed for exp/nbf/iat
    max_lifetime_seconds: int = 3600  # refuse tokens with exp - iat longer than this


def verify_citizen_token(token: str, config: CitizenTokenConfig, *, now: datetime) -> str:
    """The citizen's personnummer (or samordningsnummer) as 12 digits, or CitizenTokenError.
    `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    key = _checked_key(config)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _error("malformed") from None
    usable = [a for a in config.algorithms if isinstance(key, _KEY_TYPES[a])]
    alg = header.get("alg")
    if str(alg).lower() == "none" or str(alg).upper().startswith("HS"):
        raise CitizenTokenError("algorithm", f"Tokenets algoritm {alg!r} godtas aldrig (osignerat eller delad "
                                             f"hemlighet: nyckelförväxling) / The token's algorithm {alg!r} is never "
                                             "accepted (unsigned or shared secret: key confusion)")
    if not isinstance(alg, str) or alg not in usable:
        raise CitizenTokenError("algorithm", f"Tokenets algoritm {alg!r} godtas inte (tillåtna: "
                                             f"{', '.join(usable)}) / The token's algorithm {alg!r} is not "
                                             f"accepted (allowed: {', '.join(usable)})")
    try:
        claims = jwt.decode(token, key, algorithms=usable, audience=config.audience, issuer=config.issuer,
                            options={"require": ["exp", "iat", "iss", "aud"], "verify_exp": False,
                                     "verify_nbf": False, "verify_iat": False, "verify_sub": False,
                                     "verify_jti": False})
    except jwt.MissingRequiredClaimError as exc:
        raise _error("missing_claim", exc.claim) from None
    except jwt.InvalidIssuerError:
        raise _error("wrong_issuer") from None
    except jwt.InvalidAudienceError:
        raise _error("wrong_audience") from None
    except jwt.InvalidSignatureError:
        raise _error("bad_signature") from None
    except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError):
        raise _error("algorithm") from None
    except jwt.PyJWTError:
        raise _error("malformed") from None
    _check_times(claims, config, now.timestamp())

    if claims.get(config.subject_claim) in (None, ""):
        raise _error("missing_claim", config.subject_claim)
    return _identity(claims[config.subject_claim], now)


def load_public_key(path: Path) -> str:
    """The PEM text of a public key file, checked to be an RSA (≥ 2048 bits), EC or Ed25519/Ed448 public key.
    Raises CitizenTokenError("config") naming the file."""
    try:
        pem = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise CitizenTokenError("config", f"Nyckelfilen {path} finns inte / The key file {path} does not "
                                          "exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CitizenTokenError("config", f"Nyckelfilen {path} kan inte läsas ({exc}) / The key file {path} "
                                          f"cannot be read ({exc})") from None
    try:
        _public_key(pem)
    except CitizenTokenError as exc:
        raise CitizenTokenError("config", f"{path}: {exc.message}") from None
    return pem


# ---------------------------------------------------------------------------------------------------------------

_MESSAGES: dict[CitizenTokenErrorCode, str] = {
    "malformed": "Tokenet kan inte läsas / The token is malformed",
    "bad_signature": "Tokenets signatur stämmer inte / The token's signature does not verify",
    "expired": "Inloggningen har gått ut; logga in igen / The login has expired; log in again",
    "not_yet_valid": "Tokenet gäller inte än (kontrollera klockan) / The token is not valid yet (check the clock)",
    "wrong_issuer": "Tokenet kommer inte från vår identitetsleverantör / The token is not from our identity provider",
    "wrong_audience": "Tokenet är inte utfärdat för den här tjänsten / The token was not issued for this service",
    "too_long": "Tokenet gäller för länge / The token's lifetime is too long",
}


def _error(code: CitizenTokenErrorCode, claim: str = "") -> CitizenTokenError:
    if code == "missing_claim":
        return CitizenTokenError(code, f"Uppgiften {claim!r} saknas i tokenet / The token lacks the claim {claim!r}")
    if code == "algorithm":
        return CitizenTokenError(code, "Tokenets algoritm passar inte nyckeln / The token's algorithm does not fit "
                                       "the key")
    return CitizenTokenError(code, _MESSAGES[code])


def _check_times(claims: dict[str, Any], config: CitizenTokenConfig, now: float) -> None:
    times: dict[str, float] = {}
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if value is None and name == "nbf":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CitizenTokenError("malformed", f"Tiden {name!r} i tokenet är inget tal / The token's {name!r} "
                                                 "is not a number")
        times[name] = float(value)
    leeway = config.leeway_seconds
    if times["exp"] <= now - leeway:
        raise _error("expired")
    if times["iat"] > now + leeway or times.get("nbf", now) > now + leeway:
        raise _error("not_yet_valid")
    lifetime = times["exp"] - times["iat"]
    if lifetime > config.max_lifetime_seconds:
        raise CitizenTokenError("too_long", f"Tokenet gäller i {lifetime:.0f} s, högst "
                                            f"{config.max_lifetime_seconds} s / The token is valid for "
                                            f"{lifetime:.0f} s, at most {config.max_lifetime_seconds} s")


def _identity(value: Any, now: datetime) -> str:
    if not isinstance(value, str):
        raise CitizenTokenError("bad_identity", "Identiteten i tokenet är ingen text / The identity in the token "
                                                "is not a string")
    today = now.astimezone(SWEDEN).date()
    try:
        return check_patient_id(PatientIdKind.PERSONNUMMER, value, today=today)
    except PatientIdError as exc:
        if exc.code != "is_samordningsnummer":
            raise CitizenTokenError("bad_identity", f"Ogiltigt personnummer i tokenet: {exc.message} / Invalid "
                                                    "personnummer in the token") from None
    try:
        return check_patient_id(PatientIdKind.SAMORDNINGSNUMMER, value, today=today)
    except PatientIdError as exc:
        raise CitizenTokenError("bad_identity", f"Ogiltigt samordningsnummer i tokenet: {exc.message} / Invalid "
                                                "samordningsnummer in the token") from None


def _checked_key(config: CitizenTokenConfig) -> PublicKey:
    refused = [a for a in config.algorithms if a not in _KEY_TYPES]
    if refused or not config.algorithms:
        raise CitizenTokenError("config", f"Algoritmerna {refused} godtas inte; bara {', '.join(_KEY_TYPES)} (aldrig "
                                          f"none eller HS*) / Algorithms {refused} are not accepted; only "
                                          f"{', '.join(_KEY_TYPES)} (never none or HS*)")
    return _public_key(config.public_key_pem)


@lru_cache(maxsize=8)
def _public_key(pem: str) -> PublicKey:
    """The key object (PyJWT gets this, not the PEM text: a key object cannot be taken for an HMAC secret)."""
    if "PRIVATE KEY" in pem:
        raise CitizenTokenError("config", "Det här är en privat nyckel; ange leverantörens publika nyckel / This is "
                                          "a private key; give the provider's public key")
    if "BEGIN CERTIFICATE" in pem:
        raise CitizenTokenError("config", "Det här är ett certifikat; ta ut den publika nyckeln (openssl x509 "
                                          "-pubkey -noout -in FIL) / This is a certificate; extract its public key "
                                          "(openssl x509 -pubkey -noout -in FILE)")
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise CitizenTokenError("config", f"Ingen publik nyckel i PEM-format ({exc}) / Not a PEM public key "
                                          f"({exc})") from None
    if not isinstance(key, _PUBLIC_KEY_TYPES):
        raise CitizenTokenError("config", f"Nyckeltypen {type(key).__name__} kan inte signera tokens; använd RSA "
                                          f"eller EC / Key type {type(key).__name__} cannot sign tokens; use RSA "
                                          "or EC")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise CitizenTokenError("config", f"RSA-nyckeln har {key.key_size} bitar, minst {MIN_RSA_BITS} / The RSA "
                                          f"key has {key.key_size} bits, at least {MIN_RSA_BITS}")
    return key
