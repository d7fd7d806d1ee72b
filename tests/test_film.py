"""The shared film writer: H.264 mp4 read back with ffmpeg, looping GIFs, atomic writes, framing."""
from __future__ import annotations

import os
import re
import signal
import weakref
from pathlib import Path

import numpy as np
import pytest
from films import distance, read_film
from PIL import Image, ImageDraw, ImageSequence

import artgan
from artgan import film


def colour_frames(count: int, height: int = 32, width: int = 48) -> list[np.ndarray]:
    """Flat frames of clearly different colours."""
    rng = np.random.default_rng(1)
    return [np.full((height, width, 3), rng.integers(0, 256, 3), np.uint8) for _ in range(count)]


def test_mp4_has_the_frames_size_fps_and_codec_browsers_play(tmp_path):
    frames = colour_frames(12)
    [path] = film.write_film(iter(frames), tmp_path / "a.mp4", fps=24, hold=3)
    meta, decoded = read_film(path)
    assert (meta["codec"], meta["fps"], meta["size"]) == ("h264", 24, (48, 32))
    assert meta["pix_fmt"].startswith("yuv420p")
    assert len(decoded) == 15  # 12 frames and the last one held 3 more times
    for frame, got in zip(frames + [frames[-1]] * 3, decoded):
        assert distance(frame, got) < 3


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds ffmpeg through /proc")
def test_with_the_shape_known_ffmpeg_starts_before_the_first_frame_is_made(tmp_path):
    frames = colour_frames(5)
    encoders_at_first_frame = []

    def made():
        encoders_at_first_frame.append(len(_my_encoders()))
        yield from frames

    [path] = film.write_film(made(), tmp_path / "early.mp4", fps=10, shape=(32, 48))
    assert encoders_at_first_frame == [1]
    meta, decoded = read_film(path)
    assert meta["size"] == (48, 32) and len(decoded) == 5
    assert distance(decoded[-1], frames[-1]) < 3
    with pytest.raises(ValueError, match=r"every frame must be uint8 \(16, 48, 3\)"):
        film.write_film(iter(frames), tmp_path / "wrong.mp4", fps=10, shape=(16, 48))
    with pytest.raises(ValueError, match="no frames"):
        film.write_film(iter([]), tmp_path / "none.mp4", fps=10, shape=(32, 48))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["early.mp4"]  # no half films left behind


def test_odd_sizes_get_a_black_edge_to_become_even(tmp_path):
    grey = np.full((31, 45, 3), 200, np.uint8)
    [path] = film.write_film([grey] * 3, tmp_path / "odd.mp4", fps=10)
    meta, decoded = read_film(path)
    assert meta["size"] == (46, 32)
    assert decoded[:, -1].mean() < 20 and decoded[:, :, -1].mean() < 20  # the added row and column
    assert distance(decoded[0, :30, :44], grey[:30, :44]) < 3  # the picture itself is not scaled


def test_gif_loops_forever_with_the_same_frames(tmp_path):
    frames = colour_frames(6)
    mp4, gif = film.write_film(frames, tmp_path / "loop.mp4", fps=10, gif=True)
    assert gif == tmp_path / "loop.gif"
    with Image.open(gif) as picture:
        assert picture.info["loop"] == 0 and picture.n_frames == 6
        for index, frame in enumerate(frames):
            picture.seek(index)
            assert distance(np.asarray(picture.convert("RGB")), frame) < 3


def test_a_large_gifs_palette_from_a_sample_of_its_pixels_still_holds_every_colour(tmp_path):
    rng = np.random.default_rng(2)
    colours = rng.integers(0, 256, (40, 3), dtype=np.uint8)
    # 8 px blocks of 40 colours, 320 x 256: the palette is made from every second row and column
    frames = [np.kron(colours[rng.integers(0, 40, (32, 40))], np.ones((8, 8, 1), np.uint8)) for _ in range(3)]
    assert film._palette(320, 256).count("scale=160:128:flags=neighbor") == 1
    _, gif = film.write_film(frames, tmp_path / "blocks.mp4", fps=10, gif=True)
    with Image.open(gif) as picture:
        for index, frame in enumerate(frames):
            picture.seek(index)
            assert distance(np.asarray(picture.convert("RGB")), frame) < 1


@pytest.mark.parametrize("fps, card_frames", [(120, 1), (120, 6), (30, 2), (10, 3), (120, 60)])
def test_a_card_has_every_frame_asked_for_at_any_fps(tmp_path, fps, card_frames):
    def white(width, height):
        return Image.new("RGB", (width, height), "white")

    for path in film.write_film(iter(colour_frames(3)), tmp_path / "a.mp4", fps=fps, gif=True, card=white,
                                card_frames=card_frames):
        if path.suffix == ".gif":
            decoded = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(Image.open(path))]
        else:
            decoded = list(read_film(path)[1])
        assert len(decoded) == 3 + card_frames, path.name
        assert all(frame.min() > 250 for frame in decoded[3:]), path.name


def test_only_mp4_names_are_accepted(tmp_path):
    with pytest.raises(artgan.ArtganError, match=r"film\.mov: .*\.mp4"):
        film.write_film(colour_frames(1), tmp_path / "film.mov", fps=10)


def test_a_path_that_cannot_be_written_is_named_before_any_frame_is_made(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    made = []

    def frames():
        made.append(1)
        yield from colour_frames(2)

    with pytest.raises(artgan.ArtganError, match=r"a-file/film\.mp4: cannot create its folder .*is a file"):
        film.write_film(frames(), tmp_path / "a-file" / "film.mp4", fps=10)
    assert made == []
    (tmp_path / "taken.mp4").mkdir()
    with pytest.raises(artgan.ArtganError, match="taken.mp4: is a folder"):
        film.write_film(frames(), tmp_path / "taken.mp4", fps=10)


def test_a_failure_midway_keeps_the_previous_film_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "film.mp4"
    film.write_film(colour_frames(4), path, fps=10, gif=True)
    before = path.read_bytes()

    def broken():
        yield from colour_frames(2)
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        film.write_film(broken(), path, fps=10, gif=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.gif", "film.mp4"]


def test_frames_are_streamed_to_the_encoder_not_collected(tmp_path):
    alive: set[int] = set()
    most = 0

    def frames():
        nonlocal most
        for index in range(60):
            frame = np.full((16, 16, 3), index * 4, np.uint8)
            alive.add(index)
            weakref.finalize(frame, alive.discard, index)
            most = max(most, len(alive))
            yield frame

    film.write_film(frames(), tmp_path / "long.mp4", fps=30)
    # however long the film: the queued frames, the one being written into ffmpeg's pipe, the one
    # just sent and the one being made
    assert most <= film.QUEUED + 3


def test_frames_of_another_size_are_refused(tmp_path):
    with pytest.raises(ValueError, match="every frame"):
        film.write_film([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], tmp_path / "x.mp4", 10)


def test_fit_scales_the_longest_side_in_blocks_or_smoothly():
    picture = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8))  # 2 x 1
    blocks = np.asarray(film.fit(picture, 8))
    assert blocks.shape == (4, 8, 3)
    assert (blocks[:, :4] == [255, 0, 0]).all() and (blocks[:, 4:] == [0, 0, 255]).all()
    smooth = np.asarray(film.fit(picture, 8, smooth=True))
    assert smooth.shape == (4, 8, 3) and len(np.unique(smooth.reshape(-1, 3), axis=0)) > 2  # blended
    assert film.fit(picture, None) is picture


def test_scaled_makes_whole_blocks_in_numpy_and_other_sizes_as_fit_does():
    picture = np.random.default_rng(0).integers(0, 256, (6, 4, 3), np.uint8)
    blocks = film.scaled(picture, 18)
    assert blocks.shape == (18, 12, 3) and (blocks[::3, ::3] == picture).all() and (blocks[2::3, 2::3] == picture).all()
    for size, smooth in ((10, False), (18, True), (5, False)):
        expected = np.asarray(film.fit(Image.fromarray(picture), size, smooth))
        assert (film.scaled(Image.fromarray(picture), size, smooth) == expected).all()
    assert film.scaled(picture, None) is picture


def test_scaled_writes_into_a_view_of_a_frame_what_it_returns_alone():
    picture = np.random.default_rng(1).integers(0, 256, (6, 4, 3), np.uint8)
    for size, smooth in ((18, False), (10, False), (18, True), (None, False)):
        expected = film.scaled(picture, size, smooth)
        frame = np.zeros((30, 40, 3), np.uint8)
        height, width = expected.shape[:2]
        out = frame[5:5 + height, 7:7 + width]  # not contiguous: rows of a wider frame
        assert film.scaled(picture, size, smooth, out=out) is out
        assert (frame[5:5 + height, 7:7 + width] == expected).all()
        frame[5:5 + height, 7:7 + width] = 0
        assert not frame.any()  # nothing written outside


def test_a_caption_under_a_picture_it_scales_is_the_scaled_picture_and_the_bar():
    picture = np.random.default_rng(2).integers(0, 256, (20, 32, 3), np.uint8)
    captions = film.Captions(64, "step 1,000")
    for smooth in (False, True):
        scaled = film.scaled(picture, 64, smooth)
        below = captions.under(picture, "step 900", size=64, smooth=smooth)
        above = captions.under(picture, "step 900", above=True, size=64, smooth=smooth)
        assert (below == np.concatenate([scaled, captions.bar("step 900")])).all()
        assert (above == np.concatenate([captions.bar("step 900"), scaled])).all()


def test_caption_adds_an_even_bar_with_text_and_leaves_the_picture_alone():
    picture = np.full((40, 64, 3), (0, 90, 0), np.uint8)
    captions = film.Captions(64, "step 1,000")
    below = captions.under(picture, "step 1,000")
    above = captions.under(picture, "step 1,000", above=True)
    bar = below.shape[0] - 40
    assert bar % 2 == 0 and bar > 0 and above.shape == below.shape
    assert (below[:40] == [0, 90, 0]).all() and (above[bar:] == [0, 90, 0]).all()
    assert below[40:].max() > 150  # light text on the black bar


@pytest.mark.parametrize("width, text", [(512, "step 4,500 · epoch 28.8 · 144,000 images"), (64, "step 7"),
                                         (256, "AVAWAY Tj ff, ünïcødé 日本"), (90, "a caption far too long to fit")])
def test_captions_from_cached_glyphs_are_what_pillow_draws(width, text):
    captions = film.Captions(width, text)
    expected = Image.new("RGB", (width, captions.height))
    left = round((width - captions.font.getlength(text)) / 2)
    ImageDraw.Draw(expected).text((left, captions.baseline), text, fill=(235, 235, 235), font=captions.font, anchor="ls")
    for _ in range(2):  # drawn, then from the glyphs kept
        assert (captions.bar(text) == np.asarray(expected)).all()


def _my_encoders() -> list[int]:
    """The pids of this process's ffmpeg children (found in /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, comm, _, ppid = stat.read_text().split()[:4]
        except OSError:
            continue
        if int(ppid) == os.getpid() and "ffmpeg" in comm:
            found.append(int(pid))
    return found


def _kill_my_encoders() -> int:
    """SIGKILL this process's ffmpeg children; returns how many."""
    found = _my_encoders()
    for pid in found:
        os.kill(pid, signal.SIGKILL)
    return len(found)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds ffmpeg through /proc")
def test_an_encoder_killed_midway_is_an_error_not_a_hang_and_leaves_nothing(tmp_path):
    killed = []

    def frames():
        for index in range(200):
            if index == 5:
                killed.append(_kill_my_encoders())
            yield np.full((64, 64, 3), index, np.uint8)

    with pytest.raises(artgan.ArtganError, match=r"film\.(mp4|gif): ffmpeg failed: killed by signal 9$"):
        film.write_film(frames(), tmp_path / "film.mp4", fps=10, gif=True)
    assert killed == [2]  # the mp4's and the GIF's
    assert list(tmp_path.iterdir()) == []


def test_an_ffmpeg_that_refuses_its_command_is_an_error_naming_the_film(tmp_path, monkeypatch):
    monkeypatch.setitem(film.JOINED_AS, "libx264", "pix_fmts=yuv420p:no_such_option=1")  # as an old ffmpeg would
    frames = [np.zeros((32, 32, 3), np.uint8)] * 5  # few: they fit in the pipe before ffmpeg quits
    with pytest.raises(artgan.ArtganError, match=r"film\.mp4: ffmpeg failed: "):
        film.write_film(iter(frames), tmp_path / "film.mp4", fps=10, size=64,
                        card=lambda width, height: Image.new("RGB", (width, height)), card_frames=3)
    assert list(tmp_path.iterdir()) == []


NOISE_FILM = """
import sys
import numpy as np
from artgan import film
from artgan.errors import ArtganError
noise = np.random.default_rng(0).integers(0, 256, (40, 128, 128, 3), np.uint8)  # 40 frames x264 cannot shrink
try:
    film.write_film(iter(noise), sys.argv[1], fps=10)
except ArtganError as exc:
    sys.exit(f"error: {exc}")
"""


@pytest.mark.skipif(not hasattr(os, "setpgrp"), reason="sets ulimit -f in the child")
def test_a_film_that_does_not_fit_is_a_one_line_error_and_the_film_before_it_stays(tmp_path):
    """ffmpeg's exit is read: a film it could not finish (a full disk; here, the file size
    limit) never replaces the film before it."""
    import resource
    import subprocess
    import sys

    path = tmp_path / "film.mp4"
    assert subprocess.run([sys.executable, "-c", NOISE_FILM, str(path)]).returncode == 0
    before = path.read_bytes()
    assert len(before) > 300_000
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
    failed = subprocess.run([sys.executable, "-c", NOISE_FILM, str(path)], preexec_fn=limit,
                            capture_output=True, text=True)
    assert failed.returncode == 1
    assert failed.stderr.strip() == (f"error: {tmp_path}: cannot write there: the file size limit (ulimit -f) was "
                                     "reached; free some space (or raise the limit) or choose another --out; "
                                     "nothing half-written was kept")
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["film.mp4"]


def test_a_folder_moved_away_while_its_film_is_made_is_said_so(tmp_path):
    folder = tmp_path / "runs" / "gone"
    folder.mkdir(parents=True)

    def frames():
        for index in range(60):
            if index == 30:
                folder.rename(folder.parent / ".Trash")  # the run moved to the bin while its film renders
            yield np.full((32, 32, 3), index, np.uint8)

    with pytest.raises(artgan.ArtganError, match=r"gone/film\.mp4: its folder was deleted or moved away while"):
        film.write_film(frames(), folder / "film.mp4", fps=10)


def test_what_a_killed_render_of_the_same_film_left_is_cleared_and_nothing_else(tmp_path):
    """kill -9 during a render leaves .NAME.PID.tmp beside the film (9 MB for a GIF); the next
    render of that film deletes those of dead processes, not other files' or live ones'."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    left = [tmp_path / f".film.mp4.{dead}.tmp", tmp_path / f".film.gif.{dead}.tmp"]
    kept = [tmp_path / f".other.mp4.{dead}.tmp", tmp_path / f".film.mp4.{os.getppid()}.tmp"]  # another film; alive
    for path in left + kept:
        path.write_bytes(b"half a film")
    film.write_film(iter([np.zeros((16, 16, 3), np.uint8)] * 3), tmp_path / "film.mp4", fps=10, gif=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["film.gif", "film.mp4", *(p.name for p in kept)])


@pytest.mark.parametrize("hold, fps, frames", [(0, 30, 0), (0.01, 30, 1), (0.5, 10, 5), (2.0, 30, 60)])
def test_a_hold_is_whole_frames_and_any_hold_asked_for_is_at_least_one(hold, fps, frames):
    assert film.FilmOptions(hold=hold, fps=fps).hold_frames == frames


def test_a_film_larger_than_h264_allows_is_refused_before_it_is_encoded(tmp_path):
    """Runs compared side by side at size 4096, or a 32 x 32 grid of 256 px snapshots as they are."""
    wide = np.zeros((4112, 3 * 4096 + 16, 3), np.uint8)  # three runs of 4096 px, with their name bars
    with pytest.raises(artgan.ArtganError, match=rf"^{re.escape(str(tmp_path / 'wide.mp4'))}: a film of 12304 x 4112 px "
                                          r"is larger than H.264 allows \(8192 x 4352 px, or as many pixels\); "
                                          r"give the renderer a smaller `size`$"):
        film.write_film([wide], tmp_path / "wide.mp4", fps=10)
    assert list(tmp_path.iterdir()) == []
    [path] = film.write_film([wide], tmp_path / "scaled.mp4", fps=10, size=4096)  # scaled down, it fits
    assert path.exists()
