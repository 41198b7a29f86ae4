"""Run tokens: a JWT (HS256, PyJWT) that lets a run's own code call back about that run only.

The queen puts one in each HTTP_ENDPOINT call (``X-Run-Token``) and the Strait trigger returns one; the
SDK routes (``/sdk/v1/runs/{run_id}/…``) accept it as ``Authorization: Bearer <token>``. Claims: ``sub``
= the run id (the core request id), ``iat``, ``exp``, ``typ`` = ``run``. The key is derived from the
server's secret key (``SecretBox.derived_key(RUN_TOKEN_PURPOSE)``), so every queen sharing the secret
key accepts every queen's tokens, and a token is worth nothing for any other route or run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import jwt

RUN_TOKEN_PURPOSE = "run-token"
ALGORITHM = "HS256"
TYPE = "run"
LEEWAY_SECONDS = 5


class RunTokenInvalid(Exception):
    """Missing, malformed, badly signed or expired (a 401)."""


class RunTokenWrongRun(Exception):
    """A good token for another run (a 403)."""


def issue_run_token(key: bytes, run_id: str, *, expires_at: datetime, now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    claims = {"sub": run_id, "typ": TYPE, "iat": int(moment.timestamp()), "exp": int(expires_at.timestamp())}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify_run_token(key: bytes, token: str, run_id: str, *, now: datetime | None = None) -> str:
    """The run id the token is for, when it is for ``run_id``; raises :class:`RunTokenInvalid` or
    :class:`RunTokenWrongRun`."""
    if not token:
        raise RunTokenInvalid("a run token is required")
    try:
        # PyJWT checks exp against the real clock; with a given now, it is checked below
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], leeway=LEEWAY_SECONDS,
                            options={"require": ["sub", "exp", "iat"], "verify_exp": now is None})
    except jwt.ExpiredSignatureError as exc:
        raise RunTokenInvalid("the run token has expired") from exc
    except jwt.PyJWTError as exc:
        raise RunTokenInvalid("the run token is not valid") from exc
    if claims.get("typ") != TYPE or not isinstance(claims.get("sub"), str):
        raise RunTokenInvalid("the run token is not valid")
    if now is not None and int(claims["exp"]) + LEEWAY_SECONDS < now.timestamp():
        raise RunTokenInvalid("the run token has expired")
    if claims["sub"] != run_id:
        raise RunTokenWrongRun("the run token is for another run")
    return str(claims["sub"])
