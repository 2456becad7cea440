"""Accounts: sign in, refresh and sign out, change a password; an admin lists, adds, disables and
enables users."""
import asyncio
import contextlib
import math
from typing import Literal, Optional

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from serve_app.services.auth import AuthError, TooManyAttempts
from serve_app.routes.deps import admin_user, current_user, platform, unauthorized

router = APIRouter(tags=["accounts"])


class _Body(BaseModel):
    """A request body: unknown fields are an error (422), never ignored."""
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(_Body):
    refresh_token: str = Field(min_length=1, max_length=2048)


class NewUser(_Body):
    username: str = Field(min_length=2, max_length=63)
    password: str = Field(min_length=8, max_length=256)
    role: Literal["admin", "user", "viewer"] = "user"


class PasswordChange(_Body):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class UserChange(_Body):
    disabled: bool


@contextlib.contextmanager
def _auth_errors():
    """Refused credentials answer 401; too many attempts 429 with Retry-After."""
    try:
        yield
    except TooManyAttempts as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(math.ceil(exc.retry_after_s))}) from None
    except AuthError as exc:
        raise unauthorized(str(exc)) from None


def _address(request: Request) -> Optional[str]:
    return request.client.host if request.client else None


@router.post("/v1/auth/login")
async def login(body: LoginRequest, request: Request, p=Depends(platform)) -> dict:
    with _auth_errors():  # a flood past its limit is answered here, on the event loop, without a thread
        p.auth.turned_away(body.username, _address(request))
        return await asyncio.get_running_loop().run_in_executor(
            p.logging_in, p.auth.login, body.username, body.password, _address(request))


@router.post("/v1/auth/refresh")
def refresh(body: RefreshRequest, request: Request, p=Depends(platform)) -> dict:
    with _auth_errors():
        return p.auth.refresh(body.refresh_token, _address(request))


@router.post("/v1/auth/logout", status_code=204)
def logout(user: dict = Depends(current_user), p=Depends(platform)) -> Response:
    """Sign out everywhere: every access and refresh token of yours stops working."""
    p.auth.logout(user["username"])
    return Response(status_code=204)


@router.post("/v1/auth/password")
def change_password(body: PasswordChange, user: dict = Depends(current_user), p=Depends(platform)) -> dict:
    """A new password; every earlier token stops working. Answers new tokens for this client."""
    with _auth_errors():
        try:
            return p.auth.change_password(user["username"], body.current_password, body.new_password)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None


@router.get("/v1/me")
async def me(user: dict = Depends(current_user)) -> dict:
    return user


@router.get("/v1/users")
def users(user: dict = Depends(admin_user), p=Depends(platform)) -> list[dict]:
    return p.records.list_users()


@router.post("/v1/users", status_code=201)
def add_user(body: NewUser, user: dict = Depends(admin_user), p=Depends(platform)) -> dict:
    try:
        return p.auth.create_user(body.username, body.password, body.role)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT if "exists" in str(exc) else 422, str(exc)) from None


@router.patch("/v1/users/{username}")
def change_user(username: str, body: UserChange, user: dict = Depends(admin_user), p=Depends(platform)) -> dict:
    """Disable (signs the user out everywhere and refuses their logins) or enable a user."""
    try:
        p.auth.set_disabled(username, body.disabled)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"username": username, "disabled": body.disabled}
