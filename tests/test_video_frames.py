"""The "video-frames" source, on small videos written here: an intro, a black stretch, moving
shapes, a blurry stretch and a still shot, all inside black letterbox bars; plus broken files."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from clips import soft_focus_pan, still_shot_with_a_walker, write_video
from pydantic import ValidationError

import artgan
from artgan import plugins
from artgan.dataset import build_dataset, skipped_sheet
from artgan.recipe import parse_recipe
from artgan_plugins import video_frames
from artgan_plugins.blur_filter import laplacian_variance
from artgan_plugins.video_frames import VideoFrames

W, H, BAR, FPS = 320, 240, 30, 10  # 320x180 of picture between black bars 30 px high
MAGENTA, BACKDROP, ORANGE = (230, 0, 230), (90, 90, 110), (240, 150, 40)
NO_FILTERS = dict(min_brightness=None, min_contrast=None, blur_ratio=None, duplicate_change=None,
                  crop_bars=False)


def moving_shapes(i: int, background) -> Image.Image:
    picture = Image.new("RGB", (W, H - 2 * BAR), background)
    draw = ImageDraw.Draw(picture)
    for k, (color, speed) in enumerate([((255, 40, 40), 29), ((40, 220, 40), -37), ((250, 220, 30), 47)]):
        x, y = (40 + k * 90 + speed * i) % (W + 60) - 60, 20 + k * 45
        (draw.ellipse if k % 2 else draw.rectangle)((x, y, x + 70, y + 55), fill=color)
    return picture


def frame(i: int) -> np.ndarray:
    """Second 0: intro; 1: black; 2-3: moving shapes; 4: the same, blurred; 5: a still shot."""
    second = i // FPS
    if second == 0:
        picture = Image.new("RGB", (W, H - 2 * BAR), MAGENTA)
        ImageDraw.Draw(picture).rectangle((130, 60, 190, 120), fill="white")
    elif second == 1:
        picture = Image.new("RGB", (W, H - 2 * BAR))
    elif second in (2, 3):
        picture = moving_shapes(i, BACKDROP)
    elif second == 4:
        picture = moving_shapes(i, BACKDROP).filter(ImageFilter.GaussianBlur(6))
    else:
        picture = moving_shapes(50, ORANGE)
    full = Image.new("RGB", (W, H))
    full.paste(picture, (0, BAR))
    return np.asarray(full)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    season = root / "season"
    season.mkdir()
    write_video(season / "ep1.mp4", 6 * FPS, frame, (W, H))
    shutil.copy(season / "ep1.mp4", season / "ep2.mp4")
    (season / "notes.txt").write_text("not a video")
    data = (season / "ep1.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    return root


def read(paths, resolution=64, cache_dir=None, **options):
    source = VideoFrames(VideoFrames.Options(paths=[str(p) for p in paths], **options),
                         artgan.Context(resolution=resolution, cache_dir=cache_dir))
    results = list(source.items())
    items = [r for r in results if isinstance(r, artgan.Item)]
    skipped = [r for r in results if isinstance(r, artgan.Skipped)]
    return results, items, skipped


def times(results):
    return [round(r.info["time"], 2) for r in results]


def tenths(*seconds):
    return [round(s, 2) for s in seconds]


def test_filters_drop_duplicate_black_and_blurry_frames_and_bars_are_cropped(videos):
    video = videos / "season" / "ep1.mp4"
    _, items, skipped = read([video], fps=5)  # the default filters
    shapes = [2 + 0.2 * k for k in range(10)]
    assert times(items) == tenths(0.0, *shapes, 5.0)
    reasons = {s.origin.rsplit("@", 1)[1]: s.reason for s in skipped}
    for t in (0.2, 0.4, 0.6, 0.8):
        assert reasons[f"{t:.2f}s"] == "near-duplicate (of t=0.00s, 0.00% changed)"
    for t in (1.0, 1.2, 1.4, 1.6, 1.8):
        assert reasons[f"{t:.2f}s"].startswith("near-black (mean brightness 0.")
    for t in (4.0, 4.2, 4.4, 4.6, 4.8):  # blurred: sharper than nothing, but not than the frames around
        assert re.fullmatch(r"blurry \(sharpness [\d.]+ < 0.2 x [\d.]+, the median of the \d+ frames around it\)",
                            reasons[f"{t:.2f}s"])
    for t in (5.2, 5.4, 5.6, 5.8):
        assert reasons[f"{t:.2f}s"] == "near-duplicate (of t=5.00s, 0.00% changed)"
    assert len(skipped) == 18
    assert all(s.preview is not None and max(s.preview.size) <= 160 for s in skipped)
    # decoded at twice the resolution (shorter side 128), then the 30 px bars cut off
    assert {item.image.size for item in items} == {(171, 96)}
    first = items[0]
    assert first.origin == f"{video.absolute()}@0.00s"
    # the box of the decoded 171x128 frame kept once the bars (15 px at this size) were cut off
    assert first.info == {"video": str(video.absolute()), "time": 0.0, "letterbox": (0, 16, 171, 112),
                          "work": {"file": str(video.absolute())}}
    r, g, b = np.asarray(first.image, np.float32).reshape(-1, 3).mean(axis=0)
    assert r > 150 and b > 150 and g < 60  # the magenta intro, bars gone


def test_without_filters_every_sample_is_kept(videos):
    _, items, skipped = read([videos / "season" / "ep1.mp4"], every=0.5, **NO_FILTERS)
    assert times(items) == tenths(*(0.5 * k for k in range(12)))
    assert skipped == []
    assert {item.image.size for item in items} == {(171, 128)}


def nearest_frame(image: Image.Image) -> int:
    """The index of the written frame that ``image`` (full size, bars kept) looks most like."""
    pixels = np.asarray(image, np.float32)
    return int(np.argmin([np.abs(pixels - frame(i)).mean() for i in range(6 * FPS)]))


def test_each_frame_is_the_one_on_screen_at_its_time(videos):
    video = videos / "season" / "ep1.mp4"
    _, items, _ = read([video], every=0.3, skip_start=2, skip_end=2, decode_size=H, **NO_FILTERS)
    assert times(items) == tenths(2.0, 2.3, 2.6, 2.9, 3.2, 3.5, 3.8)
    assert [nearest_frame(item.image) for item in items] == [20, 23, 26, 29, 32, 35, 38]
    # between two frames: the first frame after the seek point, then the one on screen
    _, items, _ = read([video], every=0.5, skip_start=2.05, skip_end=2, decode_size=H, **NO_FILTERS)
    assert times(items) == tenths(2.05, 2.55, 3.05, 3.55)
    assert [nearest_frame(item.image) for item in items] == [21, 25, 30, 35]


def test_near_uniform_frames_are_dropped(videos):
    _, _, skipped = read([videos / "season" / "ep1.mp4"], every=0.5, min_brightness=None,
                         blur_ratio=None, duplicate_change=None)
    assert [s.reason for s in skipped] == ["near-uniform (brightness std 0.0 < 4)"] * 2


def test_skip_start_and_end_and_per_file_trim(videos):
    season = videos / "season"
    _, items, _ = read([season], every=0.5, skip_start=1, skip_end=1.5,
                       trim={"ep2.*": (4, 0)}, **NO_FILTERS)
    by_video = {}
    for item in items:
        by_video.setdefault(item.info["video"], []).append(round(item.info["time"], 2))
    assert by_video == {str(season / "ep1.mp4"): tenths(1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
                        str(season / "ep2.mp4"): tenths(4.0, 4.5, 5.0, 5.5)}
    for item in items:  # no frame of the magenta intro
        assert np.asarray(item.image)[..., 1].max() > 60 or np.asarray(item.image).max() < 30


def test_cap_per_video_spreads_the_frames_and_total_cap_stops(videos):
    _, items, _ = read([videos / "season"], max_per_video=3, **NO_FILTERS)
    assert times(items) == tenths(0, 2, 4, 0, 2, 4)
    _, items, _ = read([videos / "season"], max_per_video=3, max_total=4, **NO_FILTERS)
    assert [(item.info["video"].rsplit("/", 1)[1], item.info["time"]) for item in items] == [
        ("ep1.mp4", 0), ("ep1.mp4", 2), ("ep1.mp4", 4), ("ep2.mp4", 0)]


def test_scene_cuts_keep_the_first_frame_of_each_shot(videos):
    _, items, _ = read([videos / "season" / "ep1.mp4"], fps=5, scene_cuts=True, **NO_FILTERS)
    assert times(items) == tenths(0, 1, 2, 5)


def test_truncated_and_corrupt_videos_are_reported_and_the_next_file_is_read(videos):
    results, items, skipped = read([videos / "truncated.mp4", videos / "junk.mp4",
                                    videos / "season" / "ep1.mp4"], every=0.5, **NO_FILTERS)
    truncated = [i for i in items if i.info["video"].endswith("truncated.mp4")]
    assert 2 <= len(truncated) < 12  # what could be decoded before the cut
    assert times(truncated) == tenths(*(0.5 * k for k in range(len(truncated))))
    assert [s.origin for s in skipped] == [str(videos / "truncated.mp4"), str(videos / "junk.mp4")]
    assert skipped[0].reason.startswith(f"decoding error (read up to t={truncated[-1].info['time']:.1f}s of 6.0s; ")
    assert skipped[1].reason.startswith("unreadable video (")
    assert results.index(skipped[0]) == len(truncated)  # reported after its frames
    assert len([i for i in items if i.info["video"].endswith("ep1.mp4")]) == 12


def test_decode_size_scales_down_but_never_up(videos):
    video = videos / "season" / "ep1.mp4"
    _, items, _ = read([video], every=3, decode_size=1000, **NO_FILTERS)
    assert {item.image.size for item in items} == {(W, H)}
    _, items, _ = read([video], every=3, resolution=16, **NO_FILTERS)
    assert {item.image.size for item in items} == {(43, 32)}


def test_finished_videos_are_replayed_from_the_cache(videos, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    options = dict(fps=5, min_sharpness=20, cache_dir=cache)
    first, _, _ = read([videos / "season"], **options)

    def no_decoding(self):
        raise AssertionError("decoded again")

    monkeypatch.setattr(video_frames.Decoder, "frames", no_decoding)
    again, _, _ = read([videos / "season"], **options)
    assert [(type(r), r.origin) for r in again] == [(type(r), r.origin) for r in first]
    assert [r.reason for r in again if isinstance(r, artgan.Skipped)] == [
        r.reason for r in first if isinstance(r, artgan.Skipped)]
    assert all(np.array_equal(np.asarray(a.image), np.asarray(b.image))
               for a, b in zip(again, first) if isinstance(a, artgan.Item))


def test_a_video_left_unfinished_is_decoded_again(videos, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _, items, _ = read([videos / "season"], max_total=2, cache_dir=cache, **NO_FILTERS)
    assert len(items) == 2
    _, items, _ = read([videos / "season"], max_total=2, cache_dir=cache, **NO_FILTERS)
    assert len(items) == 2  # ep1 was never finished, so nothing is replayed half-way


def test_inputs_are_files_folders_and_globs_each_read_once(videos, monkeypatch):
    monkeypatch.chdir(videos)
    _, items, skipped = read(["season/*.mp4", "season", "junk.mp4", "season/notes.*"], every=3, **NO_FILTERS)
    assert [(Path(i.info["video"]).name, i.info["time"]) for i in items] == [
        ("ep1.mp4", 0), ("ep1.mp4", 3), ("ep2.mp4", 0), ("ep2.mp4", 3)]
    # a glob may name any file: a text file is then an unreadable video
    assert [(Path(s.origin).name, s.reason.split(" (")[0]) for s in skipped] == [
        ("junk.mp4", "unreadable video"), ("notes.txt", "unreadable video")]


def test_inputs_that_give_no_video_are_user_errors(videos, monkeypatch):
    monkeypatch.chdir(videos)
    (videos / "empty").mkdir(exist_ok=True)
    for entry, message in (("nowhere.mp4", "nowhere.mp4: no such file or folder"),
                           ("season/*.mkv", r"season/\*.mkv: matches nothing"),
                           ("empty", "empty: no video files")):
        with pytest.raises(artgan.ArtganError, match=message):
            read([entry])


@pytest.mark.parametrize("rate", [{"fps": 1000}, {"every": 1e-6}], ids=["fps", "every"])
def test_sampling_faster_than_the_video_takes_each_of_its_frames_once(videos, rate):
    _, items, _ = read([videos / "season" / "ep1.mp4"], resolution=32, **rate, **NO_FILTERS)
    assert times(items) == [round(i / FPS, 2) for i in range(6 * FPS)]


def test_every_and_fps_exclude_each_other():
    with pytest.raises(ValidationError, match="`every` or `fps`, not both"):
        VideoFrames.Options(paths=["x.mp4"], every=1, fps=2)


def test_dataset_manifest_records_video_and_time(videos, tmp_path):
    data = {"name": "frames", "resolution": 32, "model": {"use": "dcgan"},
            "source": [{"use": "video-frames", "paths": [str(videos / "season" / "ep1.mp4")],
                        "fps": 5, "min_sharpness": 20}]}
    report = build_dataset(parse_recipe(data, tmp_path / "recipe.toml"), tmp_path)
    assert report.dataset.count == 12
    first = json.loads((report.dataset.folder / "manifest.jsonl").read_text().splitlines()[1])
    video = str((videos / "season" / "ep1.mp4").absolute())
    assert first["origin"] == f"{video}@2.00s"
    assert first["info"] == {"video": video, "time": 2.0, "letterbox": [0, 8, 85, 56],
                             "work": {"file": video}, "source": "video-frames"}
    assert report.skip_reasons() == {"near-duplicate": 8, "near-black": 5, "blurry": 5}


def test_video_frames_source_is_registered():
    assert plugins.get("source", "video-frames").cls is VideoFrames


def test_a_small_figure_moving_over_a_still_background_is_not_a_duplicate(tmp_path):
    video = tmp_path / "walker.mp4"
    write_video(video, 5 * FPS, still_shot_with_a_walker, (W, 180))
    _, items, skipped = read([video], every=0.5, resolution=90)
    # each half second it moved 15 px: kept; once it stands, the same picture: dropped
    assert times(items) == tenths(0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
    assert [(s.origin.rsplit("@", 1)[1], s.reason) for s in skipped] == [
        (f"{t:.2f}s", "near-duplicate (of t=3.00s, 0.00% changed)") for t in (3.5, 4.0, 4.5)]


def test_soft_focus_footage_keeps_its_frames(tmp_path):
    video = tmp_path / "soft.mp4"
    write_video(video, 4 * FPS, soft_focus_pan, (W, 180))
    _, items, skipped = read([video], every=0.5, resolution=90)
    assert times(items) == tenths(*(0.5 * k for k in range(8)))
    assert skipped == []
    # an absolute bar tuned for cartoons (50) would have dropped every one of them
    sharpness = [laplacian_variance(np.asarray(item.image.convert("L"), np.float32)) for item in items]
    assert max(sharpness) < 50
    _, items, skipped = read([video], every=0.5, resolution=90, min_sharpness=50)
    assert items == [] and len(skipped) == 8


def test_dropped_frames_are_shown_on_a_sheet_by_reason(videos, tmp_path):
    data = {"name": "frames", "resolution": 32, "model": {"use": "dcgan"},
            "source": [{"use": "video-frames", "paths": [str(videos / "season" / "ep1.mp4")], "fps": 5}]}
    report = build_dataset(parse_recipe(data, tmp_path / "recipe.toml"), tmp_path)
    sheet = Image.open(skipped_sheet(report.dataset))
    assert sheet.size == (8 * 96 + 1, 3 * (96 + 20))  # rows: near-duplicate (8), near-black, blurry
    pixels = np.asarray(sheet, np.float32)
    rows = [pixels[r * 116 + 21: r * 116 + 70, 2:90] for r in range(3)]  # first tile, 94x53
    # the first row's first tile is the magenta intro; the second row's are black
    assert rows[0][..., 0].mean() > 150 and rows[0][..., 1].mean() < 80
    assert rows[1].max() < 40
    assert report.dataset.folder.joinpath("dataset.json").read_text().count('"preview"') == 18


def test_a_video_shorter_than_its_trims_says_so_in_words_with_the_fix(videos, tmp_path):
    data = {"name": "frames", "resolution": 32, "model": {"use": "dcgan"},
            "source": [{"use": "video-frames", "paths": [str(videos / "season" / "ep1.mp4")],
                        "skip_start": 90, "skip_end": 40}]}
    with pytest.raises(artgan.ArtganError) as error:
        build_dataset(parse_recipe(data, tmp_path / "recipe.toml"), tmp_path)
    message = str(error.value)
    assert "[(" not in message
    assert ("1 skipped: too short to sample (a 6.0 s video, but 90 s are skipped at the start and 40 s at "
            "the end: lower them, e.g. --set source.skip_start=0 --set source.skip_end=0") in message


def test_set_none_unsets_a_key_so_every_can_become_fps(tmp_path):
    data = {"name": "frames", "model": {"use": "dcgan"},
            "source": [{"use": "video-frames", "paths": ["a.mp4"], "every": 2}]}
    recipe = parse_recipe(data, tmp_path / "recipe.toml", ["source.0.every=none", "source.0.fps=4",
                                                           "source.0.min_brightness=none"])
    options = recipe.sources[0].options
    assert (options.every, options.fps, options.min_brightness) == (None, 4, None)
    # the lock file and sweeps read the recipe back from its table: "none" survives the trip
    table = recipe.sources[0].as_table()
    assert "every" not in table and table["min_brightness"] == "none"
    assert VideoFrames.Options.model_validate({k: v for k, v in table.items() if k != "use"}) == options


PATCHES = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (224, 172, 105), (128, 128, 128)]
UNTAGGED = ",setparams=colorspace=unknown:color_primaries=unknown:color_trc=unknown"
# sRGB pictures as a phone's HDR film holds them: HLG in BT.2020, 10-bit HEVC, sRGB's white at
# BT.2408's reference white (203 nits)
HLG = ("zscale=tin=iec61966-2-1:min=gbr:pin=bt709:rin=full:t=arib-std-b67:m=2020_ncl:p=bt2020:r=tv:npl=203,"
       "format=yuv420p10le")
X264 = ["-c:v", "libx264"]
HEVC_HLG = ["-c:v", "libx265", "-x265-params", "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc"]


def patches_video(path: Path, size: tuple[int, int], filters: str, codec: list[str]) -> Path:
    """Half a second of the PATCHES side by side, made YUV by ``filters``, encoded by ``codec``."""
    width, height = size
    picture = np.repeat(np.array(PATCHES, np.uint8), width // len(PATCHES), axis=0)[None].repeat(height, axis=0)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", f"{width}x{height}", "-r", "10", "-i", "-", "-vf", filters, *codec, "-crf", "12", str(path)],
                   input=picture.tobytes() * 5, check=True)
    return path


@pytest.mark.parametrize("size, filters, codec", [
    # an HD video that names no matrix: made in BT.709, as players take it
    ((1280, 720), f"scale=out_color_matrix=bt709:out_range=tv,format=yuv420p{UNTAGGED}", X264),
    ((1280, 720), "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p", X264),  # a named matrix is the one read
    ((1280, 720), "scale=out_color_matrix=bt601:out_range=tv,format=yuv420p", X264),
    ((640, 480), f"scale=out_color_matrix=bt601:out_range=tv,format=yuv420p{UNTAGGED}", X264),  # SD, unnamed: BT.601
    ((640, 360), HLG, HEVC_HLG),  # HDR, as phones film: its reference white is sRGB's
])
def test_frames_keep_the_colours_players_show(tmp_path, size, filters, codec):
    video = patches_video(tmp_path / "patches.mp4", size, filters, codec)
    _, items, _ = read([video], resolution=32, fps=10, max_per_video=1, **NO_FILTERS)
    pixels = np.asarray(items[0].image)
    step = pixels.shape[1] // len(PATCHES)
    shown = pixels[pixels.shape[0] // 2, step // 2::step][:len(PATCHES)].astype(int)
    assert np.abs(shown - np.array(PATCHES)).max() <= 4, shown.tolist()
