"""A video-frames build on a failing machine: its decoder killed, too few open files or too little
memory, a full disk. Each is a one-line error, and nothing cut short is cached as a finished video:
the next build decodes it again."""
from __future__ import annotations

import os
import re
import resource
import signal
import sys
from contextlib import contextmanager

import pytest
from clips import soft_focus_pan, write_video

import artgan
from artgan.dataset import build_dataset, contact_sheet, skipped_sheet
from artgan.recipe import parse_recipe
from artgan_plugins import video_frames
from artgan_plugins.video_frames import VideoFrames

FRAMES = 40  # 4 s at 10 fps, 320x180


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "pan.mp4"
    write_video(path, FRAMES, soft_focus_pan, (320, 180))
    return path


def source(video, cache, **options):
    """The video's frames, 10 a second, unfiltered (none waits for the frames after it)."""
    options = dict(fps=10, min_brightness=None, min_contrast=None, blur_ratio=None,
                   duplicate_change=None, crop_bars=False, **options)
    return VideoFrames(VideoFrames.Options(paths=[str(video)], **options),
                       artgan.Context(resolution=64, cache_dir=cache)).items()


def decoded(video, cache) -> int:
    """How many frames a read gives; fails if the cache replays instead of decoding."""
    return sum(isinstance(result, artgan.Item) for result in source(video, cache))


@contextmanager
def file_size_limit(limit: int):
    """Writes past ``limit`` bytes fail with EFBIG, as on a full disk (Python ignores SIGXFSZ)."""
    assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
    before = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, before)


@contextmanager
def open_files_left(spare: int):
    """Only ``spare`` more files can be opened: the limit (ulimit -n) is reached."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(map(int, os.listdir("/proc/self/fd"))) + 1, before[1]))
    held = []
    try:
        while True:  # take the free numbers below the limit
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    for _ in range(spare):
        os.close(held.pop())
    try:
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_a_killed_decoder_is_an_error_and_the_video_is_decoded_again(video, tmp_path, monkeypatch):
    started = []
    command = video_frames.Decoder.command
    monkeypatch.setattr(video_frames.Decoder, "command", lambda self: started.append(self) or command(self))
    results = source(video, tmp_path)
    next(results)  # ffmpeg waits: a frame is as large as the pipe
    os.kill(started[0]._process.pid, signal.SIGKILL)  # as the out-of-memory killer does
    with pytest.raises(artgan.ArtganError, match=rf"^{re.escape(str(video))}: ffmpeg was stopped by "
                       r"SIGKILL \(the out-of-memory killer or kill -9\) while decoding it, at t=0.\ds; run again"):
        list(results)
    assert list(tmp_path.iterdir()) == []  # nothing cached
    assert decoded(video, tmp_path) == FRAMES


def test_ffmpeg_out_of_memory_is_an_error_not_a_damaged_video(video, tmp_path, monkeypatch):
    fake = tmp_path / "ffmpeg"  # fails as ffmpeg does when it cannot allocate a decoder
    fake.write_text("#!/bin/sh\necho '[h264 @ 0x55d] Error while opening decoder: Cannot allocate memory' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(fake))  # the probe's and the decoder's ffmpeg
    with pytest.raises(artgan.ArtganError, match=rf"^{re.escape(str(video))}: cannot decode it now: out of "
                       r"memory: close some programs or lower `workers`; then run again"):
        list(source(video, tmp_path / "cache"))
    monkeypatch.undo()
    assert decoded(video, tmp_path / "cache") == FRAMES


def test_too_many_open_files_is_an_error_not_an_unreadable_video(video, tmp_path):
    assert decoded(video, None) == FRAMES  # what the read needs is imported
    with open_files_left(1), pytest.raises(artgan.ArtganError) as error:
        list(source(video, tmp_path))  # the cache's log takes the last one: ffmpeg cannot start
    assert str(error.value) == (f"{video}: cannot decode it now: too many open files: raise the limit "
                                "(ulimit -n) or lower `workers`; then run again (the video is decoded "
                                "again from its start)")
    assert decoded(video, tmp_path) == FRAMES  # the limit lifted, it is read


def test_a_full_disk_while_frames_are_cached_leaves_no_half_written_entry(video, tmp_path, monkeypatch):
    ignored = []  # what Python would print as "Exception ignored in: <generator ...>" and a traceback
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    results = source(video, tmp_path)
    next(results)  # a frame cached, its line in the log not yet written out
    with file_size_limit(0):
        results.close()  # the build stopped on the full disk; the log's last line does not fit
    assert ignored == []
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_during_a_video_build_is_one_line_and_nothing_is_cached(video, tmp_path):
    data = {"name": "pan", "resolution": 32, "model": {"use": "dcgan"},
            "source": [{"use": "video-frames", "paths": [str(video)], "fps": 10}]}
    with file_size_limit(20_000), pytest.raises(artgan.ArtganError, match="cannot write there: the file size limit"):
        build_dataset(parse_recipe(data, tmp_path / "recipe.toml"), tmp_path)
    assert [list(entry.iterdir()) for entry in (tmp_path / "data" / ".cache").iterdir()] == [[]]


def test_sheets_that_do_not_fit_name_the_dataset_folder_and_leave_nothing(video, tmp_path):
    data = {"name": "pan", "resolution": 32, "model": {"use": "dcgan"},
            "source": [{"use": "video-frames", "paths": [str(video)], "fps": 10, "min_sharpness": 190}]}
    dataset = build_dataset(parse_recipe(data, tmp_path / "recipe.toml"), tmp_path).dataset
    files = sorted(dataset.folder.iterdir())
    for sheet in (contact_sheet, skipped_sheet):
        with file_size_limit(100), pytest.raises(artgan.ArtganError, match=(
                rf"^{re.escape(str(dataset.folder))}: cannot write there: the file size limit")):
            sheet(dataset)
    assert sorted(dataset.folder.iterdir()) == files
