"""Take the screenshots of docs/studio.md and README.md from a workspace (a folder with runs/).

    python docs/studio_screenshots.py WORKSPACE

They were taken from the two runs of a small [sweep] (ellipses, 1,200 steps each, two learning
rates of G) and its dataset's contact sheet (`artgan dataset RECIPE --contact-sheet`).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from studio_helpers import chromium  # noqa: E402  (Debian's chromium, headless)

from artgan.studio import start  # noqa: E402

IMAGES = Path(__file__).parent / "images"


def main(workspace: Path) -> None:
    runs = sorted(p.name for p in (workspace / "runs").iterdir() if (p / "snapshots").is_dir())
    served = start(workspace)
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(served.url)
            page.wait_for_function("[...document.images].every(i => i.complete)")
            page.screenshot(path=IMAGES / "studio-gallery.png")
            page.goto(served.url + f"runs/{runs[0]}")
            page.wait_for_selector(".chart")
            page.screenshot(path=IMAGES / "studio-run.png", clip={"x": 0, "y": 0, "width": 1280, "height": 1100},
                            full_page=True)
            page.goto(served.url + f"compare?run={runs[0]}&run={runs[1]}")
            page.focus("#scrub")
            for _ in range(8):
                page.keyboard.press("ArrowLeft")
            page.wait_for_function("[...document.images].every(i => i.complete)")
            page.screenshot(path=IMAGES / "studio-compare.png")
            page.goto(served.url + f"runs/{runs[0]}/compose")
            page.wait_for_function("[...document.querySelectorAll('#samples img')].every(i => i.complete)")
            for seed in (1, 6, 11):
                page.click(f'#samples img[data-seed="{seed}"]')
            page.wait_for_function("document.querySelector('#command').textContent.includes('--seeds')")
            page.screenshot(path=IMAGES / "studio-composer.png")
    finally:
        served.stop()
    for name in ("gallery", "run", "compare", "composer"):
        print(IMAGES / f"studio-{name}.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
