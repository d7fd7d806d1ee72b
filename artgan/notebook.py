"""How runs and films show themselves in a Jupyter notebook: a run as its latest snapshot grid with
its step, losses and state; the files a renderer wrote as HTML5 video and pictures, embedded so
that the saved notebook (and Colab, which serves no local files) still shows them."""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING

from artgan.errors import ArtganError

if TYPE_CHECKING:
    from artgan.runs import Run

# A larger film is linked, not embedded: base64 in the .ipynb weighs a third more than the file.
EMBED_LIMIT = 16 * 2**20
KINDS = {".mp4": "video/mp4", ".webm": "video/webm", ".gif": "image/gif", ".png": "image/png",
         ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


class Files(list):
    """The files a renderer wrote, as a list of paths; in a notebook, films play and pictures
    show inline."""

    def _repr_html_(self) -> str:
        return "".join(file_html(Path(path)) for path in self)


def file_html(path: Path, embed_limit: int = EMBED_LIMIT) -> str:
    """``path`` as HTML: a film as a looping HTML5 video, a picture as an image, embedded up to
    ``embed_limit`` bytes (linked beyond), anything else as its name."""
    name = f"<code>{html.escape(str(path))}</code>"
    if KINDS.get(path.suffix.lower()) is None or not path.is_file():
        return f"<div>{name}</div>"
    size = path.stat().st_size
    note = f" ({size / 2**20:.0f} MB, linked rather than embedded)" if size > embed_limit else ""
    return f"<figure>{_media(path, embed_limit)}<figcaption>{name}{note}</figcaption></figure>"


def _media(path: Path, embed_limit: int = EMBED_LIMIT) -> str:
    """A <video> or <img> of ``path``, embedded as a data URL up to ``embed_limit`` bytes; beyond,
    a relative link, which Jupyter serves from the notebook's folder."""
    kind = KINDS[path.suffix.lower()]
    if path.stat().st_size > embed_limit:
        source = html.escape(path.as_posix())
    else:
        source = f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"
    if kind.startswith("video/"):
        return f'<video controls loop autoplay muted playsinline style="max-width:100%" src="{source}"></video>'
    # small grids are shown at least 256 px wide, in crisp blocks rather than blurred
    return f'<img src="{source}" style="min-width:256px;image-rendering:pixelated">'


def run_png(run: Run) -> bytes | None:
    """``Run._repr_png_``: the newest snapshot grid, as saved (None before the first, and for one
    too large to embed: the notebook keeps every format of a value shown)."""
    grid = _newest_snapshot(run)
    return grid.read_bytes() if grid and grid.stat().st_size <= EMBED_LIMIT else None


def run_html(run: Run) -> str:
    """``Run._repr_html_``: the newest snapshot grid, the step of the total, the latest losses
    and the state (training, finished, interrupted: with how to continue), and the folder; for a
    folder gone or damaged, what is wrong, in place of a traceback."""
    name = f"<b>{html.escape(run.name)}</b>"
    if not run.folder.exists():
        folder = html.escape(str(_shown(run.dir)))
        return f"<div>{name} · its folder <code>{folder}</code> is gone (deleted or moved)</div>"
    try:
        return _run_html(run)
    except ArtganError as exc:  # status.json or recipe.lock.toml unreadable: the message says which
        return f"<div>{name} · {html.escape(str(exc))}</div>"


def _run_html(run: Run) -> str:
    status = run.status()
    state = "interrupted" if run.interrupted else status.state
    step = max(run.step, status.step)
    total = status.total_steps or run.folder.lock().steps or 0
    grid = _newest_snapshot(run)
    done = f"step {step:,} of {total:,} ({step / total:.0%})" if total else f"step {step:,}"
    done += "" if state == "unknown" else f" · <i>{state}</i>"  # unknown: a run from before status.json
    if state == "interrupted":
        done += f" · continue with <code>{html.escape(continue_call(run))}</code>"
    values = " · ".join(f"{html.escape(key)} {value:.3f}" for key, value in _losses(run).items())
    caption = (f"<b>{html.escape(run.name)}</b> · {done}{'<br>' + values if values else ''}"
               f"<br><code>{html.escape(str(_shown(run.dir)))}</code>")
    return f"<div>{_media(grid) if grid else '<p>no snapshot yet</p>'}<div>{caption}</div></div>"


def continue_call(run: Run) -> str:
    """The call that continues ``run`` where it stopped: from its own recipe.lock.toml, so it
    needs no recipe at hand (after a restart of the kernel, say) and continues a sweep's run alone."""
    lock, root = _shown(run.folder.lock_file), _shown(run.dir.parent.parent)
    return f"artgan.run({str(lock)!r}, out={str(root)!r}, resume=True)"


def _shown(path: Path) -> Path:
    """``path`` from the current folder when it is inside it, else as it is."""
    try:
        return path.absolute().relative_to(Path.cwd())
    except ValueError:
        return path


def _newest_snapshot(run: Run) -> Path | None:
    try:
        return run.snapshots()[-1].path
    except ArtganError:  # none yet
        return None


def _losses(run: Run) -> dict[str, float]:
    """The numbers of the newest line of metrics.jsonl other than the counters."""
    try:
        rows = [row for row in run.metrics() if "event" not in row]  # not a rollback's line
    except ArtganError:  # no metrics yet
        return {}
    counters = {"step", "images_seen", "seconds", "images_per_s"}
    return {key: value for key, value in (rows[-1] if rows else {}).items()
            if key not in counters and isinstance(value, (int, float))}
