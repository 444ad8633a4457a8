from __future__ import annotations

import subprocess
import sys

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
