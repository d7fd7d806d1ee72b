"""The "video-frames" source's inputs, on small videos written here: paths and `trim` keys that
hold [ ] * ? are names when such a file exists, the dataset is rebuilt when the videos change,
and a truncated mp4 says why it cannot be read."""
from __future__ import annotations

import glob
import shutil

import imageio_ffmpeg
import numpy as np
import pytest
from clips import FPS, write_video

import artgan
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.video_frames import VideoFrames

NO_FILTERS = dict(min_brightness=None, min_contrast=None, blur_ratio=None, duplicate_change=None,
                  crop_bars=False)


def sliding_square(i: int) -> np.ndarray:
    """64x48 frame i: a white square sliding over grey."""
    pixels = np.full((48, 64, 3), 90, np.uint8)
    pixels[10:30, i % 40:i % 40 + 20] = 255
    return pixels


def clip(path, seconds: int, faststart: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if faststart:
        write_video(path, seconds * FPS, sliding_square, (64, 48))
        return
    writer = imageio_ffmpeg.write_frames(str(path), (64, 48), fps=FPS, macro_block_size=1)  # index at the end
    writer.send(None)
    for i in range(seconds * FPS):
        writer.send(sliding_square(i).tobytes())
    writer.close()


def frames_per_video(paths, **options) -> dict[str, int]:
    """{video file name: frames it gave} (one frame a second), and no skips."""
    source = VideoFrames(VideoFrames.Options(paths=[str(p) for p in paths], **NO_FILTERS, **options),
                         artgan.Context(resolution=16))
    counts: dict[str, int] = {}
    for result in source.items():
        assert isinstance(result, artgan.Item), result
        name = result.info["video"].rsplit("/", 1)[1]
        counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """Season [2019]/: Show [720p].mp4 and Show [1].mp4 (3 s each), Show 1.mp4 (2 s)."""
    folder = tmp_path_factory.mktemp("videos") / "Season [2019]"
    clip(folder / "Show [720p].mp4", 3)
    clip(folder / "Show [1].mp4", 3)
    clip(folder / "Show 1.mp4", 2)
    return folder


def test_a_file_or_folder_whose_name_has_brackets_is_taken_as_named(season):
    assert frames_per_video([season / "Show [720p].mp4"]) == {"Show [720p].mp4": 3}
    assert frames_per_video([season / "Show [1].mp4"]) == {"Show [1].mp4": 3}  # not Show 1.mp4
    assert frames_per_video([season]) == {"Show 1.mp4": 2, "Show [1].mp4": 3, "Show [720p].mp4": 3}


def test_a_path_that_names_no_file_is_a_glob_pattern(season):
    assert frames_per_video([f"{glob.escape(str(season))}/Show ?.mp4"]) == {"Show 1.mp4": 2}
    with pytest.raises(artgan.ArtganError, match=r"Show \[2\]\.mp4: matches nothing"):
        frames_per_video([season / "Show [2].mp4"])


def test_a_trim_key_that_names_a_video_trims_that_video_only(season):
    trims = {"Show [1].mp4": (2, 0), "Show [720p].mp4": (1, 0)}
    assert frames_per_video([season], trim=trims) == {"Show 1.mp4": 2, "Show [1].mp4": 1, "Show [720p].mp4": 2}
    assert frames_per_video([season], trim={"Show ?.mp4": (1, 0)})["Show 1.mp4"] == 1  # a pattern still


def test_an_added_or_replaced_video_rebuilds_the_dataset(season, tmp_path):
    folder = tmp_path / "videos"
    shutil.copytree(season, folder)
    recipe = parse_recipe({"name": "show", "resolution": 16, "model": {"use": "dcgan"},
                           "source": [{"use": "video-frames", "paths": [str(folder)], **NO_FILTERS}]},
                          tmp_path / "recipe.toml")
    assert build_dataset(recipe, tmp_path).dataset.count == 8
    assert build_dataset(recipe, tmp_path).reused
    clip(folder / "extra" / "Show 2.mp4", 2)
    rebuilt = build_dataset(recipe, tmp_path)
    assert not rebuilt.reused and rebuilt.dataset.count == 10


def test_an_mp4_cut_short_before_its_index_says_moov_atom_not_found(tmp_path):
    clip(tmp_path / "cut.mp4", 2, faststart=False)
    data = (tmp_path / "cut.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])  # as an unfinished download
    source = VideoFrames(VideoFrames.Options(paths=[str(tmp_path / "cut.mp4")]), artgan.Context(resolution=16))
    (skipped,) = source.items()
    assert skipped.reason.startswith("unreadable video (moov atom not found: the file is cut short")
