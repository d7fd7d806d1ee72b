"""Credits: who made a dataset's images and under which licence, read from its manifest.

Local material (folders, videos, a duplicated photo) is credited by its source's options
(:class:`CreditOptions`) and by sidecar files: ``credits.toml`` in a folder covers the files in it
and below; ``NAME.EXT.credits.toml`` beside a file covers that file. The nearer one wins, key by key.
"""
from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from artgan.errors import ArtganError
from artgan.files import write_text_atomic
from artgan.kinds import Options
from artgan.runfolder import RUNS, RunFolder

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


CREDIT_KEYS = ("title", "creator", "license", "url")
FOLDER_SIDECAR = "credits.toml"
FILE_SIDECAR = ".credits.toml"  # appended to the file's name: clip.mkv.credits.toml


class WorkCredit(BaseModel):
    """Who made a work and under which licence; every key optional."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, description="the work's title, for CREDITS.md (default: the file name)")
    creator: str | None = Field(None, description="who made the work, for CREDITS.md")
    license: str | None = Field(
        None, description="the work's licence, e.g. \"CC BY 4.0\" (`artgan credits` warns while it is unknown)")
    url: str | None = Field(None, description="where the work is published, for CREDITS.md")


class CreditOptions(Options, WorkCredit):
    """Options of a source that reads the user's own files: who made them. Sidecar files
    (``credits.toml`` in a folder, ``NAME.EXT.credits.toml`` beside a file) override them."""

    def work(self, file: Path, root: Path | None = None) -> dict[str, str]:
        """The credit of ``file`` for an item's ``info["work"]``: these options, then every
        ``credits.toml`` from ``root`` (default: the file's folder) down to the file's folder, then
        the file's own sidecar, each overriding the keys it sets; plus the file itself."""
        file = Path(file).absolute()
        root = Path(root).absolute() if root is not None else file.parent
        folders = [file.parent, *file.parent.parents]
        chain = reversed(folders[: folders.index(root) + 1] if root in folders else folders[:1])
        sidecars = [folder / FOLDER_SIDECAR for folder in chain] + [file.with_name(file.name + FILE_SIDECAR)]
        credit = {key: value for key, value in self.model_dump(include=set(CREDIT_KEYS)).items() if value}
        for sidecar in sidecars:
            credit.update(_read_sidecar(sidecar))
        return {**credit, "file": str(file)}


def _read_sidecar(path: Path) -> dict[str, str]:
    try:
        stat = path.stat()
    except OSError:
        return {}
    return _parse_sidecar(path, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _parse_sidecar(path: Path, mtime_ns: int) -> dict[str, str]:
    """The keys a sidecar sets (cached per file version: a folder's is read once per build)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return WorkCredit.model_validate(data).model_dump(exclude_none=True)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ArtganError(f"{path}: not valid TOML ({exc}); fix it or remove it") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(map(str, first["loc"])) or "file"
        raise ArtganError(f"{path}: {key}: {first['msg']}; a credits file may set only "
                          f"{', '.join(CREDIT_KEYS)}, as text") from None


@dataclass
class Credit:
    """One credited work and the dataset images that came from it."""

    attribution: str  # "title" by creator, licensed …
    license: str  # "" when unknown
    links: list[str]  # "image <…>", "page <…>"
    images: int = 1
    times: list[float] = field(default_factory=list)  # a video's frames used, in seconds


def dataset_of(target: Path) -> Path:
    """The dataset folder of ``target``: a dataset folder itself, or a run folder's dataset."""
    target = Path(target)
    if (target / "manifest.jsonl").is_file():
        return target
    run = RunFolder(target)
    lock = run.lock() if run.is_run() else None
    if lock is None:
        raise ArtganError(f"{target}: neither a dataset folder (no manifest.jsonl) nor a run folder "
                          f"(no {run.lock_file.name}); pass data/NAME or runs/NAME")
    if lock.dataset is None:
        raise ArtganError(f"{target}: its {run.lock_file.name} names no dataset (made before artgan recorded "
                          "it), so its credits are unknown: give `artgan credits` its dataset folder, "
                          "data/NAME, and leave out end_card")
    recorded = lock.dataset
    # beside runs/, where a project moved or copied since has its own; else as written (relative
    # to where training ran: a run folder moved out of runs/)
    runs = target.absolute().parent
    beside = [runs.parent / "data" / recorded.name] if runs.name == RUNS else []
    for folder in (*beside, recorded):
        if (folder / "manifest.jsonl").is_file():
            return folder
    raise ArtganError(f"{run.lock_file}: its dataset {recorded} is gone; rebuild it with `artgan dataset RECIPE`")


def collect(dataset: Path) -> tuple[list[Credit], int, int]:
    """The credited works in manifest order, the number of images they gave and of all images."""
    credits: dict[str, Credit] = {}
    credited = total = 0
    with open(dataset / "manifest.jsonl", encoding="utf-8") as manifest:
        for line in manifest:
            info = json.loads(line).get("info", {})
            total += 1
            key_credit = _web_credit(info) if info.get("attribution") else _local_credit(info)
            if key_credit is None:
                continue  # drawn images carry no credits
            credited += 1
            key, credit = key_credit
            if key in credits:
                credits[key].images += 1  # e.g. an original and its mirror image, a video's frames
                credits[key].times += credit.times
            else:
                credits[key] = credit
    return list(credits.values()), credited, total


def _web_credit(info: dict) -> tuple[str, Credit]:
    license = " ".join(filter(None, (info.get("license"), info.get("license_version"))))
    links = [f"image <{info.get('url', '')}>"] + ([f"page <{info['landing_page']}>"] if info.get("landing_page") else [])
    return info.get("url", ""), Credit(info["attribution"], license, links)


def _local_credit(info: dict) -> tuple[str, Credit] | None:
    """A local work's credit from ``info["work"]``: one work per url or title, else per file."""
    work = info.get("work")
    if work is None:
        return None
    name = Path(work["file"]).name
    title = work.get("title") or name
    license = work.get("license", "")
    attribution = f'"{title}"' + (f" by {work['creator']}" if work.get("creator") else "") + (
        f", licensed {license}" if license else ", licence unknown")
    links = ([f"<{work['url']}>"] if work.get("url") else []) + [f"file {name}"]
    times = [info["time"]] if "time" in info else []
    return work.get("url") or work.get("title") or work["file"], Credit(attribution, license, links, times=times)


def time_ranges(times: list[float], gap: float = 10.0) -> str:
    """Seconds as ranges of m:ss, a new range wherever ``gap`` seconds pass without a frame:
    "0:02-0:40, 1:10"."""
    spans: list[list[float]] = []
    for t in sorted(set(times)):
        if spans and t - spans[-1][1] <= gap:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    return ", ".join(_clock(a) if a == b else f"{_clock(a)}-{_clock(b)}" for a, b in spans)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{rest:02d}" if minutes >= 60 else f"{minutes}:{rest:02d}"


def unknown_licences(credits: list[Credit]) -> list[Credit]:
    """The works whose licence nobody has given."""
    return [credit for credit in credits if not credit.license]


def markdown(dataset: Path) -> str:
    """CREDITS.md for ``dataset``: an attribution line per work, with its links (and, for a
    video, the times its frames were taken from)."""
    credits, credited, total = collect(dataset)
    if not credited:
        return (f"# Credits\n\nNone of the {total} images in {dataset} names a work (drawn images, or local files "
                f"in a dataset built by an older artgan): nothing to credit. Credits name who made the pictures a "
                f"model learnt from; for pictures by others, give them with the source's `creator` and `license` "
                f"options or a {FOLDER_SIDECAR} beside the pictures (docs/sources.md).\n")
    others = ("" if credited == total else "; the others carry no credit information (drawn images, "
              "or local files in a dataset built by an older artgan)")
    lines = ["# Credits", "", f"{credited} of the {total} images in {dataset} come from the "
             f"{len(credits)} works below{others}.", ""]
    unknown = len(unknown_licences(credits))
    if unknown:
        lines += [f"**{unknown} of these works have no known licence: check their pages before "
                  f"publishing anything trained on them.**", ""]
    for credit in credits:
        used = f", {credit.images} images" if credit.images > 1 else ""
        if credit.times:
            used += f" (frames at {time_ranges(credit.times)})"
        lines.append(f"- {credit.attribution}  \n  {', '.join(credit.links)}{used}")
    return "\n".join(lines) + "\n"


def write_credits(target: Path) -> tuple[str, Path]:
    """Write CREDITS.md into ``target`` (a dataset or run folder); returns the text and the file."""
    text = markdown(dataset_of(target))
    path = Path(target) / "CREDITS.md"
    write_text_atomic(path, text)
    return text, path


def credits_card(targets: Iterable[Path], size: tuple[int, int]) -> Image.Image:
    """A film's end card, ``size`` (width, height): the works the runs (or datasets) ``targets``
    were trained on, one attribution each, in the largest type that fits; a long list ends
    with a pointer to CREDITS.md."""
    works: dict[str, None] = {}
    for target in targets:
        for credit in collect(dataset_of(_run_of(Path(target))))[0]:
            works.setdefault(credit.attribution)
    lines = ["Trained on", *works] if works else ["Trained on drawn images"]
    width, height = size
    for font_size in range(max(8, height // 14), 7, -1):
        font = ImageFont.load_default(font_size)
        wrapped = [part for line in lines for part in _wrap(line, font, width * 0.9)]
        if len(wrapped) * font_size * 1.4 <= height * 0.9:
            break
    else:
        fit = max(2, int(height * 0.9 / (font_size * 1.4)))
        wrapped = wrapped[: fit - 1] + ["and more: see CREDITS.md"]
    card = Image.new("RGB", size)
    draw = ImageDraw.Draw(card)
    top = (height - len(wrapped) * font_size * 1.4) / 2
    for row, line in enumerate(wrapped):
        draw.text((width / 2, top + (row + 0.5) * font_size * 1.4), line, fill=(235, 235, 235),
                  font=font, anchor="mm")
    return card


def end_card(targets: Iterable[Path], options) -> dict[str, Any]:
    """The keyword arguments of :func:`artgan.film.write_film` that end a film with the credits
    card of ``targets`` for the ``end_card`` seconds the film options ``options`` ask for, after
    the last frame's hold (none when ``end_card`` is 0)."""
    if not options.end_card:
        return {}
    targets = list(targets)
    return {"card": lambda width, height: credits_card(targets, (width, height)),
            "card_frames": max(1, round(options.end_card * options.fps))}


def _run_of(target: Path) -> Path:
    """A run or dataset folder: ``target`` itself, or the run folder of a checkpoint's folder."""
    if RunFolder(target).is_run() or (target / "manifest.jsonl").is_file():
        return target
    return target.parent if RunFolder(target.parent).is_run() else target


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` (a longer word stays whole)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines

