"""journal.citizen: verifying the citizen's token from the identity provider with a configured public key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from journal.citizen import CitizenTokenConfig, CitizenTokenError, load_public_key, verify_citizen_token

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://idp.region.example/oidc"
AUDIENCE = "vardlinje"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


RSA_CONFIG = CitizenTokenConfig(issuer=ISSUER, audience=AUDIENCE, public_key_pem=public_pem(RSA_KEY))
EC_CONFIG = CitizenTokenConfig(issuer=ISSUER, audience=AUDIENCE, public_key_pem=public_pem(EC_KEY))


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "iat": int(NOW.timestamp()) - 60,
                            "exp": int(NOW.timestamp()) + 540, "personal_identity_number": "191212121212"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(key: Any = RSA_KEY, algorithm: str = "RS256", **changes: Any) -> str:
    return jwt.encode(claims(**changes), key, algorithm=algorithm)


def refused(tok: str, config: CitizenTokenConfig = RSA_CONFIG, *, now: datetime = NOW) -> CitizenTokenError:
    with pytest.raises(CitizenTokenError) as info:
        verify_citizen_token(tok, config, now=now)
    return info.value


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_rsa_token_gives_the_normalised_personnummer() -> None:
    """A valid RS256 token gives the personnummer as 12 digits, whatever form the claim used."""
    assert verify_citizen_token(token(), RSA_CONFIG, now=NOW) == "191212121212"
    assert verify_citizen_token(token(personal_identity_number="19121212-1212"), RSA_CONFIG,
                                now=NOW) == "191212121212"


def test_valid_ec_token() -> None:
    """A valid ES256 token (EC P-256 key) is accepted."""
    assert verify_citizen_token(token(EC_KEY, "ES256"), EC_CONFIG, now=NOW) == "191212121212"


def test_samordningsnummer_claim_is_accepted() -> None:
    """A samordningsnummer in the claim is returned normalised (day 61–91 kept)."""
    assert verify_citizen_token(token(personal_identity_number="701063-2391"), RSA_CONFIG,
                                now=NOW) == "197010632391"


def test_subject_claim_is_configurable() -> None:
    """The personnummer is read from the configured claim, e.g. the Swedish OIDC profile's."""
    claim = "https://id.oidc.se/claim/personalIdentityNumber"
    config = replace(RSA_CONFIG, subject_claim=claim)
    tok = token(personal_identity_number=None, **{claim: "191212121212"})
    assert verify_citizen_token(tok, config, now=NOW) == "191212121212"
    assert refused(token(), config).code == "missing_claim"


def test_expired_token_is_refused_at_the_given_now() -> None:
    """exp is checked against `now` (with leeway), not the wall clock."""
    tok = token()
    exp = NOW + timedelta(seconds=540)
    assert verify_citizen_token(tok, RSA_CONFIG, now=exp + timedelta(seconds=29)) == "191212121212"
    error = refused(tok, now=exp + timedelta(seconds=31))
    assert error.code == "expired"
    assert "logga in igen" in str(error) and "log in again" in str(error)


def test_token_expired_by_the_wall_clock_is_accepted_at_an_earlier_now() -> None:
    """A token from 2001 verifies at a `now` in 2001: PyJWT's wall-clock checks are not used."""
    then = datetime(2001, 1, 1, tzinfo=UTC)
    tok = token(iat=int(then.timestamp()), exp=int(then.timestamp()) + 600)
    assert verify_citizen_token(tok, RSA_CONFIG, now=then) == "191212121212"


def test_not_yet_valid_token_is_refused() -> None:
    """nbf or iat in the future beyond the leeway is refused as 'not_yet_valid'."""
    start = int(NOW.timestamp())
    assert refused(token(nbf=start + 120)).code == "not_yet_valid"
    assert refused(token(iat=start + 120, exp=start + 600)).code == "not_yet_valid"
    assert verify_citizen_token(token(nbf=start + 20), RSA_CONFIG, now=NOW) == "191212121212"


def test_wrong_issuer_is_refused() -> None:
    """A token from another issuer is refused."""
    assert refused(token(iss="https://evil.example")).code == "wrong_issuer"


def test_wrong_audience_is_refused() -> None:
    """A token issued for another service is refused."""
    assert refused(token(aud="another-service")).code == "wrong_audience"


def test_token_signed_by_another_key_is_refused() -> None:
    """A token signed with a key other than the configured one is refused as 'bad_signature'."""
    assert refused(token(OTHER_RSA_KEY)).code == "bad_signature"
    assert refused(token(ec.generate_private_key(ec.SECP256R1()), "ES256"), EC_CONFIG).code == "bad_signature"


def test_tampered_payload_is_refused() -> None:
    """Changing the personnummer in a signed token breaks the signature."""
    header, _, signature = token().split(".")
    forged = f"{header}.{b64(claims(personal_identity_number='197010632391'))}.{signature}"
    assert refused(forged).code == "bad_signature"


def test_alg_none_token_is_refused() -> None:
    """An unsigned token (alg none) is refused as 'algorithm'."""
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    error = refused(unsigned)
    assert error.code == "algorithm"
    assert "key confusion" in str(error)


def test_hs256_with_the_public_pem_as_secret_is_refused() -> None:
    """Key confusion: an HS256 token 'signed' with our public PEM as the HMAC secret is refused."""
    header = b64({"alg": "HS256", "typ": "JWT"})
    payload = b64(claims())
    mac = hmac.new(RSA_CONFIG.public_key_pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert refused(forged).code == "algorithm"
    # Even if someone configured HS256, it is refused as configuration, never used.
    assert refused(forged, replace(RSA_CONFIG, algorithms=("RS256", "HS256"))).code == "config"


def test_algorithm_must_fit_the_key_and_the_configuration() -> None:
    """An ES256 token against an RSA key, or an algorithm not configured, is refused as 'algorithm'."""
    assert refused(token(EC_KEY, "ES256")).code == "algorithm"
    assert refused(token(RSA_KEY, "RS512")).code == "algorithm"


def test_missing_required_claims_are_refused() -> None:
    """exp, iat, iss, aud and the identity claim are required; the message names the missing one."""
    for name in ("exp", "iat", "iss", "aud", "personal_identity_number"):
        without: dict[str, Any] = {name: None}
        error = refused(token(**without))
        assert error.code == "missing_claim", name
        assert name in str(error)


def test_invalid_personnummer_in_claim_is_refused() -> None:
    """A claim with a wrong check digit, or not a string, is refused as 'bad_identity'."""
    error = refused(token(personal_identity_number="19121212-1213"))
    assert error.code == "bad_identity"
    assert "Kontrollsiffran" in str(error)
    assert refused(token(personal_identity_number=191212121212)).code == "bad_identity"
    assert refused(token(personal_identity_number="R19800101-7K3Q9X")).code == "bad_identity"


def test_too_long_lifetime_is_refused() -> None:
    """A token whose exp - iat exceeds max_lifetime_seconds is refused, even when otherwise valid."""
    start = int(NOW.timestamp()) - 60
    assert refused(token(iat=start, exp=start + 3601)).code == "too_long"
    assert verify_citizen_token(token(iat=start, exp=start + 3600), RSA_CONFIG, now=NOW) == "191212121212"
    assert refused(token(), replace(RSA_CONFIG, max_lifetime_seconds=300)).code == "too_long"


def test_non_numeric_times_are_refused() -> None:
    """exp as a string (or NaN) is malformed, not silently accepted."""
    assert refused(token(exp="soon")).code == "malformed"
    nan_payload = json.dumps(claims(exp="NaN")).replace('"NaN"', "NaN")
    nan_token = jwt.PyJWS().encode(nan_payload.encode(), RSA_KEY, algorithm="RS256")
    assert refused(nan_token).code == "malformed"


def test_garbage_is_malformed() -> None:
    """Something that is no JWT at all is refused as 'malformed'."""
    assert refused("not-a-token").code == "malformed"
    assert refused("").code == "malformed"


def test_naive_now_is_a_programming_error() -> None:
    """`now` without a time zone is rejected loudly rather than read as local time."""
    with pytest.raises(ValueError):
        verify_citizen_token(token(), RSA_CONFIG, now=NOW.replace(tzinfo=None))


def test_load_public_key_reads_rsa_and_ec(tmp_path: Path) -> None:
    """RSA and EC public key files load and the PEM text works as configuration."""
    for key in (RSA_KEY, EC_KEY):
        path = tmp_path / "idp.pem"
        path.write_text(public_pem(key))
        assert load_public_key(path) == public_pem(key)


def test_load_public_key_missing_file_names_it(tmp_path: Path) -> None:
    """A missing key file is a 'config' error naming the file."""
    path = tmp_path / "nowhere.pem"
    with pytest.raises(CitizenTokenError) as info:
        load_public_key(path)
    assert info.value.code == "config"
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", ["hello", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "private",
                                     "small"])
def test_load_public_key_refuses_what_is_no_usable_public_key(tmp_path: Path, content: str) -> None:
    """Text, a broken PEM, a private key or a too small RSA key is a 'config' error naming the file."""
    if content == "private":
        content = RSA_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    elif content == "small":
        content = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    path = tmp_path / "bad.pem"
    path.write_text(content)
    with pytest.raises(CitizenTokenError) as info:
        load_public_key(path)
    assert info.value.code == "config"
    assert str(path) in str(info.value)
