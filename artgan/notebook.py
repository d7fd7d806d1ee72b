"""How runs and films show themselves in a Jupyter notebook: a run as its latest snapshot grid with
its step, losses and state; the files a renderer wrote as HTML5 video and pictures, embedded so
that the saved notebook (and Colab, which serves no local files) still shows them."""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

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


def run_card(name: str, folder: Path, grid: Path | None, step: int, total: int, losses: dict[str, Any],
             state: str) -> str:
    """A run as HTML: its latest snapshot grid (``grid``), ``step`` of ``total``, the latest
    ``losses`` and its ``state`` (training, finished, interrupted…), with how to continue."""
    done = f"step {step:,} of {total:,} ({step / total:.0%})" if total else f"step {step:,}"
    values = " · ".join(f"{html.escape(key)} {value:.3f}" for key, value in losses.items()
                        if isinstance(value, (int, float)))
    hint = " · continue with <code>artgan.run(recipe, resume=True)</code>" if state == "interrupted" else ""
    picture = _media(grid) if grid else "<p>no snapshot yet</p>"
    caption = (f"<b>{html.escape(name)}</b> · {done} · <i>{html.escape(state)}</i>{hint}"
               f"{'<br>' + values if values else ''}<br><code>{html.escape(str(folder))}</code>")
    return f'<div class="artgan-run">{picture}<div>{caption}</div></div>'
