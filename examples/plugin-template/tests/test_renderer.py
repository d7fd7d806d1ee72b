"""The contact sheet: evenly spaced snapshots in a grid, oldest first."""
import pytest
from PIL import Image

import artgan
from artgan import plugins
from artgan.testing import run_renderer
from artgan_example.renderer import LABEL, ContactSheet


def flat_snapshots(tmp_path, steps):
    snapshots = tmp_path / "run" / "snapshots"
    snapshots.mkdir(parents=True)
    for step in steps:  # each snapshot a flat colour that says its step
        Image.new("RGB", (32, 32), (step // 10, 0, 0)).save(snapshots / f"step-{step:07d}.png")
    return tmp_path / "run"


def test_sheet_of_evenly_spaced_snapshots(tmp_path):
    run = flat_snapshots(tmp_path, range(0, 1000, 100))
    (out,) = run_renderer("example", run, {"count": 4, "size": 20})
    assert out == run / "contact-sheet.png"
    with Image.open(out) as sheet:
        assert sheet.size == (2 * 20, 2 * (20 + LABEL))
        reds = [sheet.getpixel((x + 10, y + 10))[0] for y in (0, 20 + LABEL) for x in (0, 20)]
    assert reds == [0, 30, 60, 90]  # steps 0, 300, 600 and 900


def test_sheet_of_a_real_run(artgan_run):
    # artgan_run: a run folder of a real tiny training (snapshots at steps 0, 2 and 4)
    (out,) = run_renderer("example", artgan_run, {"size": 32})
    with Image.open(out) as sheet:
        assert sheet.size == (2 * 32, 2 * (32 + LABEL))
        assert sheet.getpixel((2 * 32 - 1, 2 * (32 + LABEL) - 1)) == (255, 255, 255)  # three, one cell left blank


def test_a_folder_without_snapshots_is_a_user_error(tmp_path):
    with pytest.raises(artgan.ArtganError, match="no snapshots"):
        run_renderer("example", tmp_path)


def test_installed_as_a_plugin():
    assert plugins.get("renderer", "example").cls is ContactSheet
