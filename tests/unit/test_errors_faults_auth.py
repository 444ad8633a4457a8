from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from aiokafka.errors import KafkaConnectionError
from laotie_common.auth import Role, decode_token, mint_token
from laotie_common.errors import ErrorClass, PoisonRecord, TransientError, classify
from laotie_common.problems import Unauthorized
from laotie_common.settings import ServiceSettings
from laotie_probe.probe import ProbeSent
from pydantic import ValidationError

SETTINGS = ServiceSettings(database_url="postgresql://unused", kafka_bootstrap_servers="unused")


def _validation_error() -> ValidationError:
    try:
        ProbeSent.model_validate({"probe_key": 1})
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a validation error")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (PoisonRecord("bad"), ErrorClass.POISON),
        (_validation_error(), ErrorClass.UNKNOWN),
        (asyncpg.DataError("bad value"), ErrorClass.UNKNOWN),
        (TransientError("later"), ErrorClass.TRANSIENT),
        (ConnectionRefusedError(), ErrorClass.TRANSIENT),
        (TimeoutError(), ErrorClass.TRANSIENT),
        (asyncpg.DeadlockDetectedError("deadlock"), ErrorClass.TRANSIENT),
        (asyncpg.SerializationError("retry"), ErrorClass.TRANSIENT),
        (asyncpg.CannotConnectNowError("starting"), ErrorClass.TRANSIENT),
        (KafkaConnectionError(), ErrorClass.TRANSIENT),
        (KeyError("bug"), ErrorClass.UNKNOWN),
        (ZeroDivisionError(), ErrorClass.UNKNOWN),
    ],
)
def test_retry_classification(exc: BaseException, expected: ErrorClass) -> None:
    assert classify(exc) is expected


def test_fault_point_exits_137_at_the_nth_hit_only() -> None:
    code = (
        "from laotie_common.faults import fault_point\n"
        "for i in range(5):\n"
        "    print(i, flush=True)\n"
        "    fault_point('x.y')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"FAULTS": "x.y:3"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 137
    assert result.stdout.split() == ["0", "1", "2"]
    assert "FAULT INJECTED: x.y (hit 3)" in result.stderr
    clean = subprocess.run(
        [sys.executable, "-c", code], env={}, capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0
    assert clean.stdout.split() == ["0", "1", "2", "3", "4"]


def test_tokens_carry_role_subject_and_shop() -> None:
    token = mint_token(SETTINGS, subject="u1", role=Role.SELLER, shop_id="s9")
    principal = decode_token(SETTINGS, token)
    assert (principal.subject, principal.role, principal.shop_id) == ("u1", Role.SELLER, "s9")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (mint_token(SETTINGS, subject="u", role=Role.BUYER, ttl_s=-10), "expired"),
        (
            jwt.encode(
                {"sub": "u", "role": "buyer", "exp": 9999999999, "aud": "laotie", "iss": "laotie"},
                "another-secret-of-sufficient-length-123",
                "HS256",
            ),
            "invalid",
        ),
        (
            jwt.encode(
                {
                    "sub": "u",
                    "role": "emperor",
                    "exp": 9999999999,
                    "aud": "laotie",
                    "iss": "laotie",
                },
                SETTINGS.jwt_secret.get_secret_value(),
                "HS256",
            ),
            "invalid",
        ),
        (mint_token(SETTINGS, subject="u", role=Role.SELLER), "must name its shop"),
        ("not-a-token", "invalid"),
    ],
)
def test_bad_tokens_are_refused(token: str, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        decode_token(SETTINGS, token)


def _settings(**update: Any) -> ServiceSettings:
    return ServiceSettings(
        database_url="postgresql://unused", kafka_bootstrap_servers="unused", **update
    )


@pytest.mark.parametrize(
    "secret", [None, "short-but-not-dev", "laotie-local-dev-secret-change-me-in-every-cluster"]
)
def test_outside_local_development_the_dev_key_or_a_short_one_refuses_to_start(
    secret: str | None,
) -> None:
    """Regression (issue 18, row 2): the services fell back silently to a key written in
    settings.py; a token signed with it was accepted as operator anywhere."""
    update: dict[str, Any] = {"laotie_env": "production"}
    if secret is not None:
        update["jwt_secret"] = secret
    with pytest.raises(ValidationError, match="refusing to start"):
        _settings(**update)


def test_a_long_own_key_or_the_issuers_public_keys_are_accepted_outside_local(
    tmp_path: Path,
) -> None:
    assert _settings(laotie_env="production", jwt_secret="k" * 32).laotie_env == "production"
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    assert _settings(laotie_env="production", jwt_jwks_file=jwks).jwt_jwks_file == jwks


def test_a_token_valid_for_longer_than_the_maximum_lifetime_is_refused() -> None:
    """Regression: a token valid until ~2300 was accepted."""
    settings = _settings(jwt_max_lifetime_s=3600)
    assert decode_token(settings, mint_token(settings, subject="u", role=Role.BUYER, ttl_s=3600))
    for_ages = mint_token(settings, subject="u", role=Role.OPERATOR, ttl_s=10 * 365 * 86400)
    with pytest.raises(Unauthorized, match="longer than 3600 s"):
        decode_token(settings, for_ages)
    no_iat = jwt.encode(
        {"sub": "u", "role": "buyer", "exp": 2**31, "aud": "laotie", "iss": "laotie"},
        settings.jwt_secret.get_secret_value(),
        "HS256",
    )
    with pytest.raises(Unauthorized, match="iat"):
        decode_token(settings, no_iat)


def test_with_the_issuers_public_keys_only_their_signatures_are_accepted(tmp_path: Path) -> None:
    """The services hold public keys only: an EdDSA token from the issuer passes; an HS256
    token (any shared key, the dev one included) and one from another key do not."""
    from laotie_stack.commands import keys

    keys(out=tmp_path / "issuer", kid="k1")
    keys(out=tmp_path / "rogue", kid="k1")
    settings = _settings(laotie_env="production", jwt_jwks_file=tmp_path / "issuer" / "jwks.json")
    issuer = (tmp_path / "issuer" / "private.pem").read_text()
    rogue = (tmp_path / "rogue" / "private.pem").read_text()
    good = mint_token(settings, subject="ops", role=Role.OPERATOR, private_key=issuer, kid="k1")
    assert decode_token(settings, good).role is Role.OPERATOR
    forged = mint_token(settings, subject="ops", role=Role.OPERATOR, private_key=rogue, kid="k1")
    shared = mint_token(_settings(), subject="ops", role=Role.OPERATOR)
    for token in (forged, shared):
        with pytest.raises(Unauthorized, match="invalid"):
            decode_token(settings, token)


def test_an_rs256_issuer_is_accepted_and_its_public_key_is_no_hs256_secret(
    tmp_path: Path,
) -> None:
    """RS256 keys in the JWKS verify the issuer's RS256 tokens; the old algorithm-confusion
    forgery (an HS256 token keyed with the published public key) is refused."""
    import json
    import time

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    (tmp_path / "jwks.json").write_text(
        json.dumps({"keys": [public_jwk | {"kid": "r1", "alg": "RS256", "use": "sig"}]})
    )
    settings = _settings(laotie_env="production", jwt_jwks_file=tmp_path / "jwks.json")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "ops", "role": "operator", "iss": "laotie", "aud": "laotie"}
    claims |= {"iat": now, "exp": now + 600}
    good = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "r1"})
    assert decode_token(settings, good).subject == "ops"
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = _hs256_by_hand(claims, pem, kid="r1")  # pyjwt will not sign with a PEM
    with pytest.raises(Unauthorized, match="invalid"):
        decode_token(settings, confused)


def _hs256_by_hand(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{part(mac)}"
