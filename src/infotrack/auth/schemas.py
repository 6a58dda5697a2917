"""Bodies of the sign-in endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LoginRequest(BaseModel):
    """``{"username", "password"}``."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    """The bearer token (also set as an HttpOnly cookie) and the console's CSRF token."""

    success: bool = True
    message: str = "登录成功"
    token: str
    csrfToken: str
    expiresIn: int


class MeData(BaseModel):
    """The caller as infotrack sees it."""

    operatorId: str
    username: str | None
    company: str | None
    department: str | None
    organization: str | None
    role: str | None
    name: str | None
    assistant: str | None
    side: str | None
    via: str
    scope: dict[str, object]
    # What the console may offer this caller (the server checks again on every call).
    permissions: dict[str, bool]


class MeResponse(BaseModel):
    """``{"success": true, "data": {...}}``."""

    success: bool = True
    data: MeData
