"""Users, passwords and tokens. Passwords are argon2id-hashed in the records database (the
parameters are in each hash; a hash made with older ones, or scrypt, is redone at the next login).
Login gives a JWT access token (1 h) and a refresh token (30 days, one use: refreshing rotates it,
and a reused one revokes every refresh token of that user). Tokens are HS256-signed with the
platform key and carry the user's token epoch: logout, a password change or disabling the user
raises it, and every token issued before stops working. Logins and refreshes are counted per
username (every attempt) and per client address (failures, and refreshes) in the records database,
so across replicas, and refused past their limits a minute with how long to wait; an unknown
username costs the same password check as a known one."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
import uuid
from typing import Optional

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from serve_app.services.records import Records
from visiontrain.errors import VisiontrainError
from visiontrain.settings import settings as env_settings

__all__ = ["ROLES", "Auth", "AuthError", "TooManyAttempts", "signing_key"]

ROLES = ("admin", "user", "viewer")
ACCESS_TTL_S, REFRESH_TTL_S = 3600, 30 * 86400
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)  # OWASP's argon2id minimum
_CHECKS = threading.BoundedSemaphore(2)  # password checks at once per replica: a flood queues, the API answers
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


class AuthError(VisiontrainError):
    """Credentials or a token that do not let the request through (HTTP 401)."""


def _login_limits() -> tuple[int, int]:
    """Login attempts a minute per username, and failed logins (and refreshes) a minute per client address."""
    s = env_settings()
    return s.logins_per_minute, s.login_failures_per_minute


class TooManyAttempts(AuthError):
    """Too many logins or refreshes for a name or an address (HTTP 429)."""

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


_UNKNOWN_USER_HASH = hash_password(secrets.token_hex(16))  # checked for unknown names: the same work


def verify_password(password: str, stored: str) -> bool:
    with _CHECKS:
        if stored.startswith("scrypt$"):  # made before argon2id; redone at this login
            try:
                _, salt, digest = stored.split("$")
                got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, **_SCRYPT)
                return hmac.compare_digest(got, base64.b64decode(digest))
            except ValueError:
                return False
        try:
            return _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


def needs_rehash(stored: str) -> bool:
    return stored.startswith("scrypt$") or _HASHER.check_needs_rehash(stored)


def signing_key(home: str) -> str:
    """``VISIONTRAIN_JWT_SECRET`` when set (a Kubernetes Secret), else a key kept in ``home`` (0600)."""
    if key := env_settings().jwt_secret:
        return key
    path = os.path.join(home, "jwt_secret")
    if not os.path.exists(path):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        except FileExistsError:
            pass  # another replica wrote it first
    with open(path) as f:
        return f.read().strip()


class Auth:
    CACHE_S = 5.0  # how long a checked access token is trusted without asking the database again

    def __init__(self, records: Records, key: str):
        self.records, self.key = records, key
        self._checked: dict[str, tuple[float, dict]] = {}
        self._refused: dict[str, float] = {}  # attempt counters past their limit -> when their window ends

    def create_user(self, username: str, password: str, role: str = "user") -> dict:
        if not _USERNAME.match(username or ""):
            raise ValueError("username: use 2-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
        if len(password or "") < 8:
            raise ValueError("password: use at least 8 characters")
        if role not in ROLES:
            raise ValueError(f"role: one of {', '.join(ROLES)}")
        if self.records.get_user(username):
            raise ValueError(f"user {username!r} exists already")
        self.records.add_user(username, hash_password(password), role)
        return {"username": username, "role": role}

    def ensure_admin(self) -> Optional[str]:
        """The first admin, from ``VISIONTRAIN_ADMIN_USER`` / ``VISIONTRAIN_ADMIN_PASSWORD`` (created once)."""
        s = env_settings()
        user, password = s.admin_user, s.admin_password
        if user and password and not self.records.get_user(user):
            self.create_user(user, password, "admin")
            return user
        return None

    def _issue(self, username: str, role: str, epoch: int) -> dict:
        now = int(time.time())
        jti = uuid.uuid4().hex
        access = jwt.encode({"sub": username, "role": role, "type": "access", "iat": now, "exp": now + ACCESS_TTL_S,
                             "epoch": epoch}, self.key, algorithm="HS256")
        refresh = jwt.encode({"sub": username, "type": "refresh", "jti": jti, "iat": now, "exp": now + REFRESH_TTL_S},
                             self.key, algorithm="HS256")
        self.records.add_refresh_token(jti, username, now + REFRESH_TTL_S)
        return {"access_token": access, "refresh_token": refresh, "token_type": "bearer", "expires_in": ACCESS_TTL_S}

    def _throttle(self, what: str, key: str, limit: int, count: bool = True) -> None:
        """Count this attempt under ``key`` (or only look, with ``count=False``); TooManyAttempts past ``limit``
        a minute."""
        key = f"{what}:{key}"[:256]
        self._turned_away(key)
        seen, ends = self.records.hit(key, 60.0) if count else self.records.hits(key, 60.0)
        if seen > limit or (not count and seen >= limit):
            if len(self._refused) > 10_000:
                self._refused = {k: t for k, t in self._refused.items() if t > time.time()}
            self._refused[key] = ends
            wait = max(1.0, ends - time.time())
            raise TooManyAttempts(f"too many {what} attempts; try again in {wait:.0f} s", wait)

    def _turned_away(self, key: str) -> None:
        """TooManyAttempts when this replica already saw ``key`` past its limit (no database: cheap for a flood)."""
        refused = self._refused.get(key, 0.0)
        if refused > time.time():
            what = key.rsplit(":", 1)[0].split(":")[0]
            raise TooManyAttempts(f"too many {what} attempts; try again in {refused - time.time() + 1:.0f} s",
                                  max(1.0, refused - time.time()))

    def turned_away(self, username: str, address: Optional[str]) -> None:
        """The memory-only part of :meth:`login`'s limits, to answer a flood before anything else runs."""
        self._turned_away(f"login:{username}"[:256])
        if address:
            self._turned_away(f"failed login from:{address}"[:256])

    def login(self, username: str, password: str, address: Optional[str] = None) -> dict:
        """Tokens for a right password. Every attempt counts against the username, failed ones against
        the client address too (``VISIONTRAIN_LOGINS_PER_MINUTE``, ``VISIONTRAIN_LOGIN_FAILURES_PER_MINUTE``)."""
        per_user, per_address = _login_limits()
        if address:
            self._throttle("failed login from", address, per_address, count=False)
        self._throttle("login", username, per_user)
        user = self.records.get_user(username)
        stored = user["password_hash"] if user else _UNKNOWN_USER_HASH
        if not verify_password(password, stored) or user is None:
            if address:
                self.records.hit(f"failed login from:{address}"[:256], 60.0)
            raise AuthError("wrong username or password")
        if user["disabled"]:
            raise AuthError("this account is disabled; ask an admin")
        if needs_rehash(stored):
            self.records.update_password_hash(username, hash_password(password))
        return self._issue(user["username"], user["role"], user["token_epoch"])

    def logout(self, username: str) -> None:
        """Sign ``username`` out everywhere: every access and refresh token they hold stops working."""
        self.records.update_user(username)
        self._forget(username)

    def change_password(self, username: str, old: str, new: str) -> dict:
        """A new password (the old one must be right); every earlier token stops working. New tokens."""
        user = self.records.get_user(username)
        if user is None or not verify_password(old, user["password_hash"]):
            raise AuthError("the current password is wrong")
        if len(new or "") < 8:
            raise ValueError("password: use at least 8 characters")
        self.records.update_user(username, password_hash=hash_password(new))
        self._forget(username)
        return self._issue(username, user["role"], user["token_epoch"] + 1)

    def set_disabled(self, username: str, disabled: bool = True) -> None:
        if not self.records.update_user(username, disabled=disabled):
            raise ValueError(f"no user {username!r}")
        self._forget(username)

    def _forget(self, username: str) -> None:
        self._checked = {t: hit for t, hit in self._checked.items() if hit[1]["username"] != username}

    def _decode(self, token: str, kind: str) -> dict:
        try:
            claims = jwt.decode(token, self.key, algorithms=["HS256"], options={"require": ["exp", "sub", "type"]})
        except jwt.ExpiredSignatureError:
            raise AuthError(f"the {kind} token has expired; log in again" if kind == "refresh"
                            else "the access token has expired; refresh it or log in again") from None
        except jwt.InvalidTokenError:
            raise AuthError(f"not a valid {kind} token") from None
        if claims["type"] != kind:
            raise AuthError(f"not a valid {kind} token")
        return claims

    def refresh(self, token: str, address: Optional[str] = None) -> dict:
        if address:
            self._throttle("refresh from", address, _login_limits()[1])
        claims = self._decode(token, "refresh")
        if not self.records.use_refresh_token(claims.get("jti", "")):
            self.records.revoke_refresh_tokens(claims["sub"])  # a reused refresh token: someone else has a copy
            raise AuthError("this refresh token was already used; every session of this user is signed out")
        user = self.records.get_user(claims["sub"])
        if user is None or user["disabled"]:
            raise AuthError("the user no longer exists or is disabled")
        return self._issue(user["username"], user["role"], user["token_epoch"])

    def user(self, access_token: str) -> dict:
        """``{"username", "role"}`` of a valid access token, with the role as stored now (a change
        of role, a deleted or disabled user, a revocation from another replica take effect within
        ``CACHE_S`` seconds; on this replica at once)."""
        now = time.time()
        hit = self._checked.get(access_token)
        if hit is not None and hit[0] > now:
            return hit[1]
        claims = self._decode(access_token, "access")
        user = self.records.get_user(claims["sub"])
        if user is None or user["disabled"]:
            raise AuthError("the user no longer exists or is disabled")
        if claims.get("epoch") != user["token_epoch"]:
            raise AuthError("this token was revoked (signed out, or the password changed); log in again")
        if len(self._checked) > 10_000:
            self._checked.clear()
        found = {"username": user["username"], "role": user["role"]}
        self._checked[access_token] = (min(now + self.CACHE_S, claims["exp"]), found)
        return found
