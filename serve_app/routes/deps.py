"""What routes depend on: the caller (from the bearer token), their role, their request budget,
and the platform. Every route but health, login and refresh uses ``current_user``."""
from typing import Optional

from fastapi import Depends, HTTPException, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serve_app.services.auth import AuthError
from visiontrain.messages import LANGUAGES

__all__ = ["admin_user", "bearer", "current_user", "language", "platform", "serve_platform", "unauthorized", "writer_user"]

bearer = HTTPBearer(auto_error=False, description="an access token from POST /v1/auth/login")


def unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


_serving: list = []  # the Platform of this process's ingress replica (Serve runs a copy of the FastAPI app)


def serve_platform(p) -> None:
    """Called by the ingress when its replica starts: the routes of this process use ``p``."""
    _serving[:] = [p]


async def platform():
    """(async only so that FastAPI calls it in place: a plain ``def`` dependency costs a thread hop per request)"""
    if not _serving:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the API is starting; retry in a moment",
                            headers={"Retry-After": "1"})
    return _serving[0]


async def current_user(creds: Optional[HTTPAuthorizationCredentials] = Depends(bearer), p=Depends(platform)) -> dict:
    """The user of a valid access token (401 otherwise), within their request rate (429 otherwise)."""
    if creds is None:
        raise unauthorized("log in first: POST /v1/auth/login, then send 'Authorization: Bearer <access_token>'")
    try:
        user = p.auth.user(creds.credentials)
    except AuthError as exc:
        raise unauthorized(str(exc)) from None
    wait_s = p.limiter.wait_s(user["username"])
    if wait_s > 0:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many requests from {user['username']}; try again in {wait_s:.1f} s",
                            headers={"Retry-After": str(max(1, round(wait_s)))})
    return user


async def writer_user(user: dict = Depends(current_user)) -> dict:
    """A user who may change things: viewers only read."""
    if user["role"] == "viewer":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "viewers can read but not change anything; ask an admin "
                                                       "for a user account")
    return user


async def admin_user(user: dict = Depends(current_user)) -> dict:
    if user["role"] != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin can do this")
    return user


async def language(language: str = Query("en", pattern=f"^({'|'.join(LANGUAGES)})$",
                                         description="the language of the messages in the answer")) -> str:
    return language
