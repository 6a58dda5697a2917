"""``/api/auth``: sign in, sign out, and who am I (the seed's 获取当前账号信息)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from infotrack.auth.deps import CSRF_COOKIE, SESSION_COOKIE, CurrentIdentity, RuntimeDep
from infotrack.auth.schemas import LoginRequest, LoginResponse, MeResponse
from infotrack.history.scope import scope_for

router = APIRouter(prefix="/api/auth", tags=["认证"])


@router.post("/login", response_model=LoginResponse, summary="登录")
async def login(body: LoginRequest, response: Response, runtime: RuntimeDep) -> LoginResponse:
    """Check the credentials; answer a bearer token and set the console's session cookie."""
    account = await run_in_threadpool(runtime.logins.login, body.username, body.password)
    token = runtime.tokens.issue(account.id, account.token_version)
    csrf = runtime.tokens.csrf_token(token)
    max_age = runtime.settings.token_ttl_minutes * 60
    path = runtime.settings.root_path or "/"
    secure = runtime.settings.cookie_secure
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path=path,
    )
    # Readable by the console's script, which echoes it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure, path=path
    )
    return LoginResponse(token=token, csrfToken=csrf, expiresIn=max_age)


@router.post("/logout", summary="退出登录")
async def logout(response: Response, runtime: RuntimeDep) -> dict[str, object]:
    """Clear the console's cookies (bearer tokens simply expire)."""
    path = runtime.settings.root_path or "/"
    response.delete_cookie(SESSION_COOKIE, path=path)
    response.delete_cookie(CSRF_COOKIE, path=path)
    return {"success": True, "message": "已退出登录"}


@router.get("/me", response_model=MeResponse, summary="当前账号信息")
async def me(identity: CurrentIdentity, runtime: RuntimeDep) -> MeResponse:
    """The caller's identity as infotrack sees it: how an integrator checks a JWT mapping."""
    settings = runtime.settings
    read_scope = scope_for(identity, settings)
    scope = read_scope.public()
    role = identity.role or ""
    # The same checks the endpoints make: the console offers what the server allows.
    permissions = {
        "manageAccounts": role in settings.account_admin_roles,
        "readAccessLog": role in settings.access_log_roles,
        "verifyAudit": role in settings.verify_audit_roles,
        # Alerts are handled by anyone who reads beyond their own records (alerts router).
        "readAlerts": read_scope.kind != "own",
    }
    return MeResponse.model_validate(
        {"data": {**identity.public(), "scope": scope, "permissions": permissions}}
    )
