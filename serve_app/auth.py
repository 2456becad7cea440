"""Users, passwords and tokens. Passwords are scrypt-hashed in the records database; login gives a
JWT access token (1 h) and a refresh token (30 days, one use: refreshing rotates it, and a reused
one revokes every refresh token of that user). Tokens are HS256-signed with the platform key."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
import uuid
from typing import Optional

import jwt

from serve_app.records import Records

__all__ = ["ROLES", "Auth", "AuthError", "signing_key"]

ROLES = ("admin", "user", "viewer")
ACCESS_TTL_S, REFRESH_TTL_S = 3600, 30 * 86400
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


class AuthError(Exception):
    """Credentials or a token that do not let the request through (HTTP 401)."""


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        _, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, **_SCRYPT)
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False


def signing_key(home: str) -> str:
    """``VISIONTRAIN_JWT_SECRET`` when set (a Kubernetes Secret), else a key kept in ``home`` (0600)."""
    if key := os.environ.get("VISIONTRAIN_JWT_SECRET"):
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
        user, password = os.environ.get("VISIONTRAIN_ADMIN_USER"), os.environ.get("VISIONTRAIN_ADMIN_PASSWORD")
        if user and password and not self.records.get_user(user):
            self.create_user(user, password, "admin")
            return user
        return None

    def _issue(self, username: str, role: str) -> dict:
        now = int(time.time())
        jti = uuid.uuid4().hex
        access = jwt.encode({"sub": username, "role": role, "type": "access", "iat": now, "exp": now + ACCESS_TTL_S},
                            self.key, algorithm="HS256")
        refresh = jwt.encode({"sub": username, "type": "refresh", "jti": jti, "iat": now, "exp": now + REFRESH_TTL_S},
                             self.key, algorithm="HS256")
        self.records.add_refresh_token(jti, username, now + REFRESH_TTL_S)
        return {"access_token": access, "refresh_token": refresh, "token_type": "bearer", "expires_in": ACCESS_TTL_S}

    def login(self, username: str, password: str) -> dict:
        user = self.records.get_user(username)
        if user is None or not verify_password(password, user["password_hash"]):
            raise AuthError("wrong username or password")
        return self._issue(user["username"], user["role"])

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

    def refresh(self, token: str) -> dict:
        claims = self._decode(token, "refresh")
        if not self.records.use_refresh_token(claims.get("jti", "")):
            self.records.revoke_refresh_tokens(claims["sub"])  # a reused refresh token: someone else has a copy
            raise AuthError("this refresh token was already used; every session of this user is signed out")
        user = self.records.get_user(claims["sub"])
        if user is None:
            raise AuthError("the user no longer exists")
        return self._issue(user["username"], user["role"])

    def user(self, access_token: str) -> dict:
        """``{"username", "role"}`` of a valid access token, with the role as stored now (a change
        of role or a deleted user takes effect within ``CACHE_S`` seconds)."""
        now = time.time()
        hit = self._checked.get(access_token)
        if hit is not None and hit[0] > now:
            return hit[1]
        claims = self._decode(access_token, "access")
        user = self.records.get_user(claims["sub"])
        if user is None:
            raise AuthError("the user no longer exists")
        if len(self._checked) > 10_000:
            self._checked.clear()
        found = {"username": user["username"], "role": user["role"]}
        self._checked[access_token] = (min(now + self.CACHE_S, claims["exp"]), found)
        return found
