"""The studio's ASGI app: pages (gallery, run, compare, composer), their JSON, the files they
show (by ids the workspace made), live events, and the token check for hosts off loopback."""
from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from artgan.errors import ArtganError
from artgan.kinds import Seed
from artgan.studio.composer import Composer, command, film_options
from artgan.studio.events import Hub
from artgan.progress import duration
from artgan.studio.workspace import Workspace

HERE = Path(__file__).parent
COOKIE = "artgan_studio_token"
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]", "::1"]
BODY = 100_000  # bytes a POST may send: a composer's form is a few hundred
SEEDS = TypeAdapter(Seed)
NUMBER = re.compile("[0-9]{1,18}")  # a step or a job's id: ASCII digits, and no more than a 64-bit number holds


class _Number(IntegerConvertor):
    """A step or a job's id in a URL. A longer string of digits names nothing here (404) rather
    than being read as a number (Python refuses 4,300 digits and more: that was a 500)."""

    regex = NUMBER.pattern


register_url_convertor("number", _Number())


def create_app(workspace: str | Path, token: str | None = None, host: str = "127.0.0.1") -> Starlette:
    """The studio for ``workspace``, served on ``host``. With ``token``, every request must carry
    it (``?token=`` once, then a cookie); without, only loopback host names and ``host`` are
    answered (no DNS rebinding)."""
    space = Workspace(workspace)
    hub = Hub()
    composer = Composer(hub.publish)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["duration"] = duration

    def page(request: Request, template: str, **context: Any) -> Response:
        return templates.TemplateResponse(request, template, context)

    async def gallery(request: Request) -> Response:
        runs = await run_in_threadpool(space.summaries)
        template = "cards.html" if request.query_params.get("part") == "cards" else "gallery.html"
        return page(request, template, runs=runs, workspace=space.root)

    async def run_page(request: Request) -> Response:
        found = await run_in_threadpool(space.page, request.path_params["name"])
        if found is None:
            raise HTTPException(404)
        if request.query_params.get("part") == "films":
            return page(request, "films.html", name=found.summary.name, films=found.films, pictures=found.pictures)
        return page(request, "run.html", run=found, summary=found.summary)

    async def run_json(request: Request) -> Response:
        found = await run_in_threadpool(space.page, request.path_params["name"])
        if found is None:
            raise HTTPException(404)
        return JSONResponse(asdict(found))

    async def run_live(request: Request) -> Response:
        after = request.query_params.get("after")
        if after is not None and not NUMBER.fullmatch(after):
            raise HTTPException(400, "after must be a snapshot's step")
        found = await run_in_threadpool(space.live, request.path_params["name"], request.query_params.get("since", ""),
                                        None if after is None else int(after))
        if found is None:
            raise HTTPException(404)
        return JSONResponse(found)

    async def runs_json(request: Request) -> Response:
        return JSONResponse([asdict(summary) for summary in await run_in_threadpool(space.summaries)])

    async def compare(request: Request) -> Response:
        names = request.query_params.getlist("run")
        sweep = request.query_params.get("sweep")
        if sweep:
            names = [s.name for s in await run_in_threadpool(space.summaries) if s.sweep == sweep]
        runs = {name: space.snapshot_steps(name) for name in names if space.folder(name)}
        if not runs:
            raise HTTPException(404)
        return page(request, "compare.html", runs=runs, all_runs=space.run_names(), sweep=sweep)

    async def checkpoints_json(request: Request) -> Response:
        name = request.path_params["name"]
        if space.folder(name) is None:
            raise HTTPException(404)
        return JSONResponse(space.checkpoint_steps(name))

    async def composer_page(request: Request) -> Response:
        name = request.path_params["name"]
        if space.folder(name) is None:
            raise HTTPException(404)
        rendering = [job.as_dict() for job in composer.jobs.values()  # a reload follows the run's newest film
                     if job.run == name and job.state in ("queued", "rendering")]
        return page(request, "composer.html", name=name, checkpoints=space.checkpoint_steps(name),
                    films=space.films(name), rendering=rendering[-1] if rendering else None)

    async def snapshot_file(request: Request) -> Response:
        return _file(space.snapshot_file(request.path_params["name"], request.path_params["step"]))

    async def film_file(request: Request) -> Response:
        return _file(space.film_file(request.path_params["name"], request.path_params["film"]))

    async def picture_file(request: Request) -> Response:
        return _file(space.picture_file(request.path_params["name"], request.path_params["picture"]))

    async def dataset_file(request: Request) -> Response:
        return _file(space.dataset_file(request.path_params["dataset"], request.path_params["sheet"]))

    async def sample(request: Request) -> Response:
        checkpoint = _checkpoint(space, request.path_params["name"], request.query_params.get("step"))
        try:
            seed = SEEDS.validate_python(int(request.path_params["seed"]))
            truncation = float(request.query_params.get("truncation", 1.0))
        except ValueError:
            raise HTTPException(400, f"seed must be a whole number from {-2**63} to {2**64 - 1}, "
                                     "and truncation a number") from None
        if not 0 < truncation <= 2:
            raise HTTPException(400, "truncation must be above 0 and at most 2")
        try:
            png = await run_in_threadpool(composer.sample_png, checkpoint, seed, truncation)
        except ArtganError as exc:  # a checkpoint cut short, say: said, as a command would say it
            raise HTTPException(400, str(exc)) from None
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    async def film_command(request: Request) -> Response:
        name = request.path_params["name"]
        form = await _json_body(request)
        checkpoint = _checkpoint(space, name, form.get("step"))
        try:
            text = command(checkpoint, film_options(form, space.runs_dir / name / "FILM.mp4"), space.root)
        except ArtganError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"command": text})

    async def compose(request: Request) -> Response:
        name = request.path_params["name"]
        form = await _json_body(request)
        checkpoint = _checkpoint(space, name, form.get("step"))
        try:
            job = composer.submit(name, space.folder(name).path, checkpoint, form, space.root)
        except ArtganError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(job.as_dict(), status_code=202)

    async def job_json(request: Request) -> Response:
        job = composer.jobs.get(request.path_params["id"])
        if job is None:
            raise HTTPException(404)
        return JSONResponse(job.as_dict())

    async def cancel_job(request: Request) -> Response:
        await _json_body(request)  # as renders: no other site's form can stop one
        job = composer.jobs.get(request.path_params["id"])
        if job is None:
            raise HTTPException(404)
        composer.cancel(job)
        return JSONResponse(job.as_dict())

    async def events(request: Request) -> Response:
        return StreamingResponse(hub.stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @asynccontextmanager
    async def lifespan(app: Starlette):
        with suppress(OSError):  # watched from the start, so runs appear live (a read-only workspace has none to come)
            space.runs_dir.mkdir(exist_ok=True)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(asyncio.to_thread(space.summaries)),  # the first gallery is then read from memory
                 asyncio.create_task(hub.watch(space.runs_dir, stop))]
        try:
            yield
        finally:
            stop.set()
            composer.close()
            await asyncio.wait(tasks, timeout=2)

    routes = [
        Route("/", gallery),
        Route("/runs/{name}", run_page),
        Route("/runs/{name}/compose", composer_page),
        Route("/compare", compare),
        Route("/api/runs", runs_json),
        Route("/api/runs/{name}", run_json),
        Route("/api/runs/{name}/live", run_live),
        Route("/api/runs/{name}/checkpoints", checkpoints_json),
        Route("/api/runs/{name}/command", film_command, methods=["POST"]),
        Route("/api/runs/{name}/compose", compose, methods=["POST"]),
        Route("/api/jobs/{id:number}", job_json),
        Route("/api/jobs/{id:number}/cancel", cancel_job, methods=["POST"]),
        Route("/events", events),
        Route("/files/runs/{name}/snapshots/{step:number}.png", snapshot_file),
        Route("/files/runs/{name}/samples/{seed}.png", sample),
        Route("/files/runs/{name}/film/{film:path}", film_file),
        Route("/files/runs/{name}/picture/{picture:path}", picture_file),
        Route("/files/data/{dataset}/{sheet}", dataset_file),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(_OwnPagesOnly), Middleware(_TokenCheck, token=token) if token else
                  Middleware(TrustedHostMiddleware, allowed_hosts=[*LOOPBACK_NAMES, host])]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan, exception_handlers={404: _not_found})
    app.state.hub = hub
    return app


class _OwnPagesOnly:
    """Refuses what a page of another origin makes the browser ask for (an <img>, a script's
    request: browsers say so in Sec-Fetch-Site, and name the page's origin in Origin) but a
    person following a link there, and tells browsers that no other page may frame the studio's
    (no clicks on a hidden Render button). Other origins include the same site's other ports: a
    notebook server or a dev server on localhost is another program's page."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        followed_link = headers.get("sec-fetch-mode") == "navigate" and scope["method"] == "GET"
        elsewhere = headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none") or (
            "origin" in headers and headers["origin"] != f"{scope['scheme']}://{headers.get('host')}")
        if elsewhere and not followed_link:
            response = PlainTextResponse("403: the studio answers its own pages, not other sites' or ports'",
                                         status_code=403)
            return await response(scope, receive, send)

        async def unframed(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-frame-options", b"DENY"),
                                      (b"content-security-policy", b"frame-ancestors 'none'")]
            await send(message)
        return await self.app(scope, receive, unframed)


class _TokenCheck:
    """Answers only requests that carry the token: ``?token=`` (then remembered in a cookie) or
    the cookie; anything else gets 403 with a line saying where the token is."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        given = request.query_params.get("token") or request.cookies.get(COOKIE) or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            response = PlainTextResponse("403: this studio needs its token: open the address "
                                         "`artgan studio` printed (it ends with ?token=...)", status_code=403)
            return await response(scope, receive, send)
        if "token" in request.query_params:
            async def remembering(message):
                if message["type"] == "http.response.start":
                    cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()
                    message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie)]
                await send(message)
            return await self.app(scope, receive, remembering)
        return await self.app(scope, receive, send)


def _file(path: Path | None) -> Response:
    try:  # stat now: a run folder deleted since it was listed is a 404, not a traceback
        return FileResponse(path, stat_result=os.stat(path)) if path else _missing()
    except FileNotFoundError:
        return _missing()


def _missing() -> Response:
    raise HTTPException(404)


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("404: not in this workspace", status_code=404)


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (at most BODY bytes). Only JSON is taken: a form another site
    posts cannot send it without the browser asking first, so no page elsewhere can start
    renders here."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, "send JSON")
    text = b""
    try:
        async for chunk in request.stream():
            text += chunk
            if len(text) > BODY:
                raise HTTPException(413, f"a form of the studio is under {BODY // 1000} kB")
    except ClientDisconnect:  # gone before it sent all it announced: nobody to answer
        raise HTTPException(400, "the request was cut short") from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise HTTPException(400, "not JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "send a JSON object")
    return body


def _checkpoint(space: Workspace, name: str, step: Any) -> Path:
    """The checkpoint of run ``name`` at ``step`` (default: its newest), by the steps listed."""
    if step in (None, ""):
        step = None
    elif isinstance(step, str) and NUMBER.fullmatch(step):
        step = int(step)
    elif not isinstance(step, int) or isinstance(step, bool):
        raise HTTPException(400, "step must be a whole number")
    path = space.checkpoint_file(name, step)
    if path is None:
        raise HTTPException(404)
    return path
