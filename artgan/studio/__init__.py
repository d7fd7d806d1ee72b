"""artgan studio: a local web app to watch trainings live, compare runs and compose films
(docs/studio.md). `artgan studio` calls :func:`serve`; tests and benchmarks call :func:`start`."""
from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import threading
import time
import webbrowser
from dataclasses import dataclass
from pathlib import Path

from artgan.errors import ArtganError
from artgan.runfolder import RUNS, RunFolder

DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether ``host`` only answers this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_port(host: str, wanted: int) -> int:
    """``wanted`` if it is free on ``host``, else a port the system picks (0: always the system's)."""
    for port in ([wanted] if wanted else []) + [0]:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            if os.name == "posix":  # as the server binds (asyncio's default): a port whose last
                # connections linger in TIME_WAIT after a Ctrl-C is free to it, so a restart keeps its address
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host.strip("[]"), port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise ArtganError(f"--host {host}: cannot listen there; give an address of this machine (or 127.0.0.1)")


@dataclass
class Studio:
    """A studio serving in a thread (see :func:`start`)."""

    url: str
    token: str | None
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _server(workspace: Path, host: str, port: int, token: str | None):
    import uvicorn

    from artgan.studio.app import create_app

    app = create_app(workspace, token, host)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets=None) -> None:
            app.state.hub.close()  # uvicorn waits for open responses, and pages' event streams never end alone
            await super().shutdown(sockets)

    return Server(uvicorn.Config(app, host=host.strip("[]"), port=port, log_level="warning",
                                 timeout_graceful_shutdown=1, lifespan="on"))


def _check(workspace: Path, host: str) -> tuple[Path, str | None, str | None]:
    """The workspace to serve (see :func:`workspace_of`), its token (None on loopback) and the
    line saying why the workspace is not the folder given."""
    if not workspace.is_dir():
        what = "a file, not a folder" if workspace.exists() else "no such folder"
        raise ArtganError(f"--workspace {workspace}: {what}; give the folder that holds runs/ "
                          "(where you ran `artgan run`)")
    workspace, why = workspace_of(workspace)
    return workspace, None if is_loopback(host) else secrets.token_urlsafe(24), why


def workspace_of(folder: Path) -> tuple[Path, str | None]:
    """The workspace of ``folder``: itself, or the folder above when ``folder`` is a runs/ folder or
    a run folder in one (``artgan studio`` started in the wrong folder); and a line saying so."""
    resolved = folder.resolve()
    if resolved.parent.name == RUNS and _a_run(folder):
        root = resolved.parent.parent
        return root, (f"{folder} is a run folder: showing the studio of {root}, which holds it "
                      f"(its page: /runs/{resolved.name})")
    if resolved.name == RUNS and not (folder / RUNS).is_dir() and any(_a_run(child) for child in folder.iterdir()):
        return resolved.parent, f"{folder} is a folder of runs: showing the studio of {resolved.parent}, which holds it"
    return folder, None


def _a_run(folder: Path) -> bool:
    """Whether ``folder`` is a run folder, also one made before runs had a recipe.lock.toml."""
    run = RunFolder(folder)
    return run.is_run() or run.snapshots_dir.is_dir() or run.checkpoints_dir.is_dir()


def _url(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def start(workspace: str | Path, host: str = "127.0.0.1", port: int = 0) -> Studio:
    """Serve the studio of ``workspace`` in a background thread; returns once it answers."""
    workspace, token, _ = _check(Path(workspace), host)
    port = free_port(host, port)
    server = _server(workspace, host, port, token)
    thread = threading.Thread(target=server.run, daemon=True, name="studio")
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ArtganError(f"the studio did not start on {host}:{port}")
        time.sleep(0.02)
    return Studio(_url(host, port, token), token, server, thread)


def serve(workspace: str | Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT, browser: bool = True,
          say=print) -> None:
    """Serve the studio of ``workspace`` until Ctrl-C; ``say`` prints the lines about it."""
    workspace, token, why = _check(Path(workspace), host)
    if why:
        say(why)
    chosen = free_port(host, port)
    if port and chosen != port:
        say(f"port {port} is taken: using {chosen}")
    url = _url(host, chosen, token)
    say(f"artgan studio of {workspace.resolve()} at {url}")
    if token:
        say(f"{host} answers other machines: the address above carries this studio's token; "
            "give it only to people who may see and render these runs")
    say("Ctrl-C stops it")
    server = _server(workspace, host, chosen, token)
    if browser:
        threading.Timer(0.8, webbrowser.open, [url]).start()
    server.run()
