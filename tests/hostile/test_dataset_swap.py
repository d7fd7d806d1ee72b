"""A rebuilt dataset replaces the old one so that data/NAME is always one of them, whole: a
process killed (kill -9) or interrupted (Ctrl-C) while it swaps them leaves the old dataset or the
new one, and the next build puts right what the kill left, never reusing a broken dataset."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from hostile_helpers import python_process

import artgan
from artgan.dataset import build_dataset, open_dataset
from artgan.recipe import parse_recipe

OLD, NEW = 12, 20  # the shapes in the old dataset and in its rebuild


def recipe(tmp_path: Path, count: int):
    data = {"name": "ds", "resolution": 16, "source": [{"use": "shapes", "count": count}], "model": {"use": "dcgan"}}
    return parse_recipe(data, tmp_path / "recipe.toml")


def assert_whole(tmp_path: Path, count: int) -> None:
    """data/ds holds a dataset of ``count`` images with every file."""
    dataset = open_dataset(recipe(tmp_path, count), tmp_path)
    assert np.asarray(dataset.images).shape == (count, 16, 16, 3)
    assert len(dataset.manifest()) == count == len(list((dataset.folder / "images").glob("*.png")))


def leftovers(tmp_path: Path) -> list[str]:
    """What is in data/ besides the dataset, its lock and the sources' cache."""
    return sorted(p.name for p in (tmp_path / "data").iterdir() if p.name not in ("ds", ".ds.lock", ".cache"))


def killed_at(tmp_path: Path, step: str) -> None:
    """Rebuild data/ds with NEW shapes in a real process, and kill it (SIGKILL) at ``step`` of
    the swap: "aside", right after the old dataset is renamed; "deleting", when the deletion of
    the old dataset (the folder named ds or .ds.old that has a dataset.json) has removed its
    packed array and half its images."""
    process = python_process(f"""
        import shutil, time
        from pathlib import Path
        import artgan
        real_rename, real_rmtree = Path.rename, shutil.rmtree

        def pause():
            print("at the swap", flush=True)
            time.sleep(600)

        def rename(self, target):
            real_rename(self, target)
            if {step!r} == "aside" and Path(target).name == ".ds.old":
                pause()

        def rmtree(path, *args, **kwargs):
            path = Path(path)
            if {step!r} == "deleting" and path.name in ("ds", ".ds.old") and (path / "dataset.json").exists():
                (path / "images.u8").unlink()
                for png in sorted(path.glob("images/*.png"))[::2]:
                    png.unlink()
                pause()
            real_rmtree(path, *args, **kwargs)

        Path.rename, shutil.rmtree = rename, rmtree
        artgan.dataset(artgan.load_recipe("recipe.toml", set={{"source.0.count": {NEW}}}), out=".")
        print("finished without a pause", flush=True)
        """, tmp_path)
    try:
        lines = iter(process.stdout.readline, "")
        assert "at the swap\n" in lines, process.stderr.read()  # read up to it, or to the end
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()


@pytest.fixture
def old_dataset(tmp_path):
    (tmp_path / "recipe.toml").write_text(
        f'name = "ds"\nresolution = 16\n[[source]]\nuse = "shapes"\ncount = {OLD}\n[model]\nuse = "dcgan"\n')
    build_dataset(recipe(tmp_path, OLD), tmp_path)
    return tmp_path


def test_kill_9_after_the_old_dataset_went_aside_leaves_the_old_one_whole(old_dataset):
    killed_at(old_dataset, "aside")
    report = build_dataset(recipe(old_dataset, OLD), old_dataset)
    assert report.reused
    assert_whole(old_dataset, OLD)
    assert leftovers(old_dataset) == []


def test_kill_9_while_the_old_dataset_is_deleted_leaves_the_new_one_whole(old_dataset):
    killed_at(old_dataset, "deleting")
    assert_whole(old_dataset, NEW)
    assert build_dataset(recipe(old_dataset, NEW), old_dataset).reused
    assert leftovers(old_dataset) == []  # what was left of the old one is gone


def test_ctrl_c_between_the_two_renames_puts_the_old_dataset_back(old_dataset, monkeypatch):
    rename = Path.rename

    def interrupted(self, target):
        rename(self, target)
        if Path(target).name == ".ds.old":
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(recipe(old_dataset, NEW), old_dataset)
    monkeypatch.undo()
    assert_whole(old_dataset, OLD)  # at once, not only after the next build
    assert leftovers(old_dataset) == []


def test_a_half_deleted_dataset_an_older_artgan_left_is_rebuilt_not_reused(old_dataset):
    folder = old_dataset / "data" / "ds"
    (folder / "images.u8").unlink()
    for png in sorted((folder / "images").glob("*.png"))[::3]:
        png.unlink()
    with pytest.raises(artgan.ArtganError, match=r"data/ds: incomplete \(files are missing"):
        open_dataset(recipe(old_dataset, OLD), old_dataset)
    report = build_dataset(recipe(old_dataset, OLD), old_dataset)
    assert not report.reused
    assert_whole(old_dataset, OLD)
    assert leftovers(old_dataset) == []


def test_files_a_file_manager_leaves_in_a_dataset_do_not_make_it_incomplete(old_dataset):
    folder = old_dataset / "data" / "ds"
    (folder / "images" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # Finder opened the folder
    (folder / "images" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")  # so did Windows Explorer
    assert build_dataset(recipe(old_dataset, OLD), old_dataset).reused
