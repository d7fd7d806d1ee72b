"""artgan in a notebook: films and runs show themselves inline, the stop button stops a training
that resumes, and examples/notebook.ipynb runs from top to bottom."""
from __future__ import annotations

import base64
import re

import numpy as np

from artgan import notebook
from artgan.film import write_film


def embedded(html: str, tag: str, kind: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(rf'<{tag} [^>]*src="data:{kind};base64,([^"]+)"', html)]


def test_films_and_pictures_a_renderer_wrote_show_inline(tmp_path):
    frames = [np.full((32, 32, 3), shade, np.uint8) for shade in range(0, 200, 20)]
    mp4, gif = write_film(frames, tmp_path / "walk.mp4", fps=10, gif=True)
    credits = tmp_path / "CREDITS.md"
    credits.write_text("# Credits\n")
    shown = notebook.Files([mp4, gif, credits])._repr_html_()
    assert embedded(shown, "video", "video/mp4") == [mp4.read_bytes()]  # plays in a saved notebook, and on Colab
    assert embedded(shown, "img", "image/gif") == [gif.read_bytes()]
    assert f"<code>{credits}</code>" in shown
    assert notebook.Files([mp4]) == [mp4]  # still the list of files render returns


def test_a_film_too_large_to_embed_is_linked(tmp_path):
    (mp4,) = write_film([np.zeros((16, 16, 3), np.uint8)] * 5, tmp_path / "still.mp4", fps=5)
    shown = notebook.file_html(mp4, embed_limit=100)
    assert f'src="{mp4.as_posix()}"' in shown and "linked rather than embedded" in shown
