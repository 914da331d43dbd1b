"""Analysts and their bearer tokens: scrypt-hashed passwords, roles, token issue and check.

Users are provisioned by `lakehouse cases add-user NAME --role analyst|lead` (no user and no
password ships with the repository). `login` checks a password against its scrypt hash
(`hashlib.scrypt`, random salt, constant-time comparison) and issues a random bearer token;
only its SHA-256 is stored, with an expiry (`LAKEHOUSE_CASE_TOKEN_HOURS`), so a copy of the
database does not hold usable tokens. The case API turns the `Authorization: Bearer` header
into a `workflow.Actor` with `actor_for_token`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lakehouse.cases.schema import case_tokens, case_users
from lakehouse.cases.store import record_audit, utc
from lakehouse.cases.workflow import ROLES, Actor

# scrypt cost: 2^14 x 8 x 1 takes ~50 ms and 16 MiB, the parameters RFC 7914 suggests for
# interactive logins.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 12
USERNAME_PATTERN = r"^[a-z][a-z0-9_.-]{1,63}$"


class InvalidCredentials(PermissionError):
    """Unknown user, wrong password, or an unknown/expired token (401)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`, everything needed to verify it later.

    Args:
        password: the clear password.

    Returns:
        The stored form (a fresh random salt each time).
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` hashes to `stored` (constant-time comparison).

    Args:
        password: the clear password given.
        stored: what `hash_password` returned.

    Returns:
        Whether they match (False for a malformed `stored`).
    """
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


def add_user(engine: sa.Engine, username: str, role: str, password: str) -> None:
    """Create or update an analyst (a new password replaces the old one); audited.

    Args:
        engine: the analytics DB holding the case tables.
        username: 2-64 characters: lowercase letters, digits, `_ . -`.
        role: one of `ROLES`.
        password: at least `MIN_PASSWORD_LENGTH` characters (stored hashed).

    Raises:
        ValueError: bad username, unknown role, or a password shorter than 12 characters.
    """
    if not re.match(USERNAME_PATTERN, username):
        raise ValueError("a username is 2-64 characters: lowercase letters, digits, _ . -")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    row = {
        "username": username,
        "role": role,
        "password_hash": hash_password(password),
        "created_at": datetime.now(UTC),
    }
    with engine.begin() as connection:
        connection.execute(case_users.delete().where(case_users.c.username == username))
        connection.execute(case_tokens.delete().where(case_tokens.c.username == username))
        connection.execute(case_users.insert().values(**row))
    record_audit(engine, "cli", "add_user", {"username": username, "role": role})


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(
    engine: sa.Engine, username: str, password: str, ttl: timedelta
) -> tuple[str, Actor, datetime]:
    """Check the password and issue a bearer token.

    Args:
        engine: the analytics DB holding the case tables.
        username: the analyst.
        password: the clear password.
        ttl: how long the token is valid.

    Returns:
        The token (shown once, never stored), the actor, and when the token expires.

    Raises:
        InvalidCredentials: unknown user or wrong password (the same message for both).
    """
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(case_users).where(case_users.c.username == username)
        ).first()
    if found is None or not verify_password(password, found.password_hash):
        raise InvalidCredentials("unknown user or wrong password")
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + ttl
    with engine.begin() as connection:
        # Expired tokens of every user go at each login: the table never grows unbounded.
        connection.execute(case_tokens.delete().where(case_tokens.c.expires_at < datetime.now(UTC)))
        connection.execute(
            case_tokens.insert().values(
                token_sha256=_token_digest(token), username=username, expires_at=expires
            )
        )
    return token, Actor(found.username, found.role), expires


def actor_for_token(engine: sa.Engine, token: str) -> Actor:
    """The analyst a bearer token was issued to.

    Args:
        engine: the analytics DB holding the case tables.
        token: the bearer token.

    Returns:
        The analyst and their role.

    Raises:
        InvalidCredentials: unknown or expired token, or its user was removed.
    """
    query = (
        sa.select(case_users.c.username, case_users.c.role, case_tokens.c.expires_at)
        .join(case_users, case_users.c.username == case_tokens.c.username)
        .where(case_tokens.c.token_sha256 == _token_digest(token))
    )
    with engine.connect() as connection:
        found = connection.execute(query).first()
    if found is None or utc(found.expires_at) <= datetime.now(UTC):  # type: ignore[operator]
        raise InvalidCredentials("unknown or expired token: log in again")
    return Actor(found.username, found.role)
