"""The console at ``/``, its assets, the SDK at ``/sdk/tracker.js`` and the demo CRM page.

The pages are static shells; everything they show comes from the JSON API with the reader's
own session, so scope, masking and the access log apply exactly as to any other client. The
assets are built from ``frontend/`` (``make assets``) into ``static/dist`` and served from the
package: nothing is fetched from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from infotrack.auth.deps import CurrentIdentity, RuntimeDep
from infotrack.console.demo_crm import demo_customers, demo_enabled
from infotrack.errors import NotFound
from infotrack.exports.pdf_writer import BUNDLED_FONT
from infotrack.runtime import Runtime

HERE = Path(__file__).parent
PAGES = HERE / "pages"
STATIC = HERE / "static"
DIST = STATIC / "dist"

# Scripts and styles only from this server; no inline script, no framing. Inline styles are
# allowed for ECharts' tooltips, which it positions with style attributes.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
NOT_BUILT = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>infotrack</title>
<p>控制台资源尚未构建:请在项目目录运行 <code>make assets</code>(或 <code>make run</code>)。</p>
<p>The console's assets are not built: run <code>make assets</code>.</p></html>"""

router = APIRouter(include_in_schema=False)


def _page(name: str, asset: str) -> Response:
    if not (DIST / asset).is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers=PAGE_HEADERS)
    return HTMLResponse((PAGES / name).read_text(encoding="utf-8"), headers=PAGE_HEADERS)


@router.get("/")
async def console_page() -> Response:
    """The console (a single page; its views are addressed by the URL fragment)."""
    return _page("index.html", "console.js")


@router.get("/sdk/tracker.js")
async def tracker_sdk() -> Response:
    """The browser SDK for CRM pages, loadable from any origin."""
    path = DIST / "tracker.js"
    if not path.is_file():
        raise NotFound("tracker.js 尚未构建:请运行 make assets", code="assets_not_built")
    return FileResponse(
        path,
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": "no-cache",
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/static/fonts/cjk.ttf")
async def cjk_font() -> Response:
    """The bundled CJK font, the console's last fallback where the system has none."""
    return FileResponse(
        BUNDLED_FONT, media_type="font/ttf", headers={"Cache-Control": "max-age=604800"}
    )


@router.get("/demo/crm")
async def demo_crm_page(runtime: RuntimeDep) -> Response:
    """A stand-in CRM page whose buttons record through tracker.js (demo data only)."""
    await _require_demo(runtime)
    return _page("demo-crm.html", "demo-crm.js")


@router.get("/demo/crm/customers")
async def demo_crm_customers(identity: CurrentIdentity, runtime: RuntimeDep) -> dict[str, Any]:
    """The demo CRM's customer list: both sources, phone numbers as the CRM stores them."""
    await _require_demo(runtime)
    items = await run_in_threadpool(demo_customers, runtime.sources, runtime.settings)
    return {"success": True, "data": {"items": items}}


async def _require_demo(runtime: Runtime) -> None:
    if not await run_in_threadpool(demo_enabled, runtime.sources, runtime.settings):
        raise NotFound(
            "演示 CRM 页面仅在载入演示数据(infotrack demo)后可用", code="demo_not_loaded"
        )


def mount_console(app: FastAPI) -> None:
    """Serve the console's pages and assets on ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
