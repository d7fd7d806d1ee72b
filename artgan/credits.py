"""Credits: who made a dataset's images and under which licence, read from its manifest."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from artgan.errors import ArtganError
from artgan.files import write_text_atomic

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class Credit:
    """One credited original and how many dataset images came from it."""

    url: str
    landing_page: str
    attribution: str
    license: str
    images: int = 1


def dataset_of(target: Path) -> Path:
    """The dataset folder of ``target``: a dataset folder itself, or a run folder's dataset."""
    target = Path(target)
    if (target / "manifest.jsonl").is_file():
        return target
    lock = target / "recipe.lock.toml"
    if not lock.is_file():
        raise ArtganError(f"{target}: neither a dataset folder (no manifest.jsonl) nor a run folder "
                          f"(no recipe.lock.toml); pass data/NAME or runs/NAME")
    recorded = Path(tomllib.loads(lock.read_text(encoding="utf-8"))["lock"]["dataset"])
    # as written (relative to where training ran), or in the usual place beside runs/
    for folder in (recorded, target.absolute().parent.parent / "data" / recorded.name):
        if (folder / "manifest.jsonl").is_file():
            return folder
    raise ArtganError(f"{lock}: its dataset {recorded} is gone; rebuild it with `artgan dataset RECIPE`")


def collect(dataset: Path) -> tuple[list[Credit], int, int]:
    """The credited originals in manifest order, the number of credited images and of all images."""
    credits: dict[str, Credit] = {}
    credited = total = 0
    with open(dataset / "manifest.jsonl", encoding="utf-8") as manifest:
        for line in manifest:
            info = json.loads(line).get("info", {})
            total += 1
            if not info.get("attribution"):
                continue  # drawn, decoded or local images carry no credits
            credited += 1
            url = info.get("url", "")
            if url in credits:
                credits[url].images += 1  # e.g. an original and its mirror image
            else:
                license = " ".join(filter(None, (info.get("license"), info.get("license_version"))))
                credits[url] = Credit(url, info.get("landing_page", ""), info["attribution"], license)
    return list(credits.values()), credited, total


def markdown(dataset: Path) -> str:
    """CREDITS.md for ``dataset``: an attribution line per original, with its links."""
    credits, credited, total = collect(dataset)
    lines = ["# Credits", "", f"{credited} of the {total} images in {dataset} come from the "
             f"{len(credits)} works below; the others carry no credit information "
             f"(local files, video frames or drawn images).", ""]
    unknown = sum(1 for c in credits if not c.license)
    if unknown:
        lines += [f"**{unknown} of these works have no known licence: check their pages before "
                  f"publishing anything trained on them.**", ""]
    for credit in credits:
        links = [f"image <{credit.url}>"] + ([f"page <{credit.landing_page}>"] if credit.landing_page else [])
        times = f", {credit.images} images" if credit.images > 1 else ""
        lines.append(f"- {credit.attribution}  \n  {', '.join(links)}{times}")
    return "\n".join(lines) + "\n"


def write_credits(target: Path) -> tuple[str, Path]:
    """Write CREDITS.md into ``target`` (a dataset or run folder); returns the text and the file."""
    text = markdown(dataset_of(target))
    path = Path(target) / "CREDITS.md"
    write_text_atomic(path, text)
    return text, path
