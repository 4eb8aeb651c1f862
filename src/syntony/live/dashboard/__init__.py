"""The live dashboard: a small ASGI app (Starlette) served by uvicorn on 127.0.0.1 only.

Routes: ``/`` the page, ``/static/...`` its script and style (shipped in this package; the page
loads nothing from elsewhere), ``/api/state`` the current snapshot as JSON, ``/api/events``
the snapshots as Server-Sent Events, one per update.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from pathlib import Path
from typing import Any

from syntony.live.state import DashboardState

__all__ = ["HOST", "create_app", "serve"]

#: The only address the dashboard listens on.
HOST = "127.0.0.1"
_STATIC = Path(__file__).with_name("static")


def _clean(value: Any) -> Any:
    """NaN and infinities (not JSON) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _dumps(snapshot: dict) -> str:
    return json.dumps(_clean(snapshot), separators=(",", ":"))


def create_app(state: DashboardState, *, stopping: threading.Event | None = None):
    """The Starlette application serving ``state``."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    stopping = stopping or threading.Event()

    async def page(request):
        return FileResponse(_STATIC / "index.html", media_type="text/html")

    async def snapshot(request):
        return Response(_dumps(state.snapshot()), media_type="application/json")

    async def events(request):
        async def stream():
            version = -1
            last_beat = time.monotonic()
            while not stopping.is_set():
                if state.version != version:
                    snap = state.snapshot()
                    version = snap["version"]
                    yield f"id: {version}\ndata: {_dumps(snap)}\n\n"
                elif time.monotonic() - last_beat > 10:
                    last_beat = time.monotonic()
                    yield ": keep-alive\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def favicon(request):
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/state", snapshot),
            Route("/api/events", events),
            Route("/favicon.ico", favicon),
            Mount("/static", app=StaticFiles(directory=_STATIC), name="static"),
        ]
    )


class _Handle:
    """A running server: set ``should_exit`` to stop it."""

    def __init__(self, server, thread: threading.Thread, stopping: threading.Event) -> None:
        self._server, self._thread, self._stopping = server, thread, stopping

    @property
    def should_exit(self) -> bool:
        return bool(self._server.should_exit)

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._stopping.set()
            self._server.should_exit = True
            self._thread.join(timeout=5)


def serve(state: DashboardState, *, port: int = 0) -> tuple[_Handle, str]:
    """Start the dashboard on ``http://127.0.0.1:port`` in a background thread.

    ``port`` 0 picks a free port. Returns a handle (``handle.should_exit = True`` stops the
    server) and the page's URL.
    """
    import uvicorn

    stopping = threading.Event()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, int(port)))
    except OSError as exc:
        sock.close()
        from syntony.errors import ParameterError

        raise ParameterError("--port", f"a free port on {HOST} ({exc.strerror})", port) from None
    sock.listen(64)
    config = uvicorn.Config(
        create_app(state, stopping=stopping), log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="syntony-dashboard", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    return _Handle(server, thread, stopping), url
