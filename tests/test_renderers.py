"""Renderers timelapse, interpolation, loss-plot and compare: films and pictures read back."""
from __future__ import annotations

import json
import shutil
import sys
from importlib import resources

import numpy as np
import pytest
import torch
from films import Projection, distance, fake_run, projection_plugin, read_film, tiny_recipe, tiny_run
from PIL import Image
from pydantic import ValidationError

import artgan
from artgan import film, pipeline, plugins, sampling
from artgan.images import grid
from artgan.kinds import Context
from artgan_plugins.compare import labels
from artgan_plugins.interpolation import noise_loop, slerp, tiled

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def renderer(name: str, **options):
    info = plugins.get("renderer", name)
    return info.cls(info.cls.Options.model_validate(options), Context())


def snapshot(run, index: int) -> np.ndarray:
    return np.asarray(Image.open(sorted((run / "snapshots").iterdir())[index]).convert("RGB"))


def scaled(picture: np.ndarray, factor: int) -> np.ndarray:
    return picture.repeat(factor, axis=0).repeat(factor, axis=1)


@pytest.fixture
def fake(tmp_path):
    return fake_run(tmp_path)  # 5 snapshots (steps 0..400) of 2x2 flat colours, 16 px each


@pytest.fixture
def projection(register_plugin, tmp_path):
    """A checkpoint of a model with vivid output, so frames differ visibly after compression."""
    return projection_plugin(register_plugin, tmp_path, "test-projection-model")


def keyframe(checkpoint_path, seed: int, walks: int = 1) -> np.ndarray:
    """What seed ``seed`` looks like: the samples `artgan sample --seed S --n walks` makes, as a grid."""
    model = artgan.checkpoint.build_model(artgan.checkpoint.load(checkpoint_path))
    [images] = sampling.generate(model, sampling.latents(model, walks, seed))
    return np.asarray(grid(images))


# --- timelapse ---------------------------------------------------------------------------------

def test_timelapse_films_every_snapshot_then_holds_the_last(fake, tmp_path):
    out = tmp_path / "t.mp4"
    paths = renderer("timelapse", fps=5, hold=1.0, size=64, caption=False, out=out).render(fake)
    assert paths == [out]
    meta, frames = read_film(out)
    assert (meta["codec"], meta["fps"], meta["size"], len(frames)) == ("h264", 5, (64, 64), 5 + 5)
    assert meta["pix_fmt"].startswith("yuv420p")
    assert distance(frames[0], scaled(snapshot(fake, 0), 2)) < 3  # frame 0 is snapshot 0, resized
    for index, frame in enumerate(frames[:5]):
        distances = [distance(frame, scaled(snapshot(fake, i), 2)) for i in range(5)]
        assert np.argmin(distances) == index and distances[index] < 3
    for held in frames[5:]:
        assert distance(held, scaled(snapshot(fake, 4), 2)) < 3


def test_timelapse_caption_is_burnt_under_the_picture(fake, tmp_path):
    renderer("timelapse", size=64, out=tmp_path / "c.mp4").render(fake)
    _, frames = read_film(tmp_path / "c.mp4")
    assert frames.shape[1] > 64 and frames.shape[1] % 2 == 0
    assert distance(frames[0, :64], scaled(snapshot(fake, 0), 2)) < 3
    first_caption, last_caption = frames[0, 64:], frames[4, 64:]
    assert first_caption.max() > 150 and distance(first_caption, last_caption) > 1  # the step changed


def test_timelapse_caption_text_counts_epochs_and_images():
    from artgan_plugins.timelapse import _caption

    lock = artgan.RecipeLock({"train": {"batch_size": 8}}, {"dataset_images": 24})
    assert _caption(1500, lock) == "step 1,500 · epoch 500.0 · 12,000 images"
    assert _caption(30, artgan.RecipeLock({}, {})) == "step 30"


def test_timelapse_of_a_sub_grid_and_a_progress_strip(fake, tmp_path):
    out = tmp_path / "one.mp4"
    mp4, gif, strip = renderer("timelapse", samples=1, strip=3, strip_count=3, strip_size=16, caption=False,
                               hold=0, gif=True, out=out).render(fake)
    assert (gif, strip) == (tmp_path / "one.gif", tmp_path / "one-strip.png")
    _, frames = read_film(mp4)
    assert frames.shape == (5, 16, 16, 3)  # only sample 0: the top-left 16 px of each snapshot
    for index, frame in enumerate(frames):
        assert distance(frame, snapshot(fake, index)[:16, :16]) < 3
    with Image.open(gif) as picture:
        assert picture.n_frames == 5 and picture.info["loop"] == 0
    pictures = np.asarray(Image.open(strip).convert("RGB"))
    assert pictures.shape == (16, 3 * 16 + 2 * 2, 3)  # snapshots 0, 2 and 4, 2 px apart
    for position, index in enumerate((0, 2, 4)):
        left = position * 18
        assert (pictures[:, left:left + 16] == snapshot(fake, index)[16:, 16:]).all()  # sample 3: bottom right


def test_timelapse_errors_name_the_problem(fake, tmp_path):
    empty = tmp_path / "empty"
    (empty / "snapshots").mkdir(parents=True)
    with pytest.raises(artgan.ArtganError, match="empty: no snapshots"):
        renderer("timelapse").render(empty)
    with pytest.raises(artgan.ArtganError, match="samples: the snapshots hold 4 samples"):
        renderer("timelapse", samples=5).render(fake)
    with pytest.raises(artgan.ArtganError, match="strip: the snapshots hold samples 0 to 3"):
        renderer("timelapse", strip=4).render(fake)



@pytest.mark.parametrize("name", ["timelapse", "compare"])
@pytest.mark.parametrize("damage, reason", [(lambda data: b"junk\n", "cannot identify image file"),
                                            (lambda data: data[:40], "")])
def test_an_unreadable_snapshot_is_skipped_the_one_before_holds_and_it_is_reported_once(
        fake, tmp_path, capfd, name, damage, reason):
    broken = sorted((fake / "snapshots").iterdir())[3]
    broken.write_bytes(damage(broken.read_bytes()))
    out = tmp_path / f"{name}.mp4"
    options = {"strip": 0, "strip_count": 5, "strip_size": 16} if name == "timelapse" else {}
    assert renderer(name, out=out, caption=False, hold=0, **options).render(fake)[0] == out
    _, frames = read_film(out)
    assert len(frames) == 5
    tiles = frames if name == "timelapse" else frames[:, -32:, :32]  # compare: under the name
    for index, shown in enumerate([0, 1, 2, 2, 4]):  # step 300 holds the picture of step 200
        assert distance(tiles[index], snapshot(fake, shown)) < 3
    [line] = capfd.readouterr().err.strip().splitlines()
    assert line.startswith(f"skipped 1 unreadable snapshot: {broken} (unreadable image ({reason}")
    assert "BytesIO" not in line
    if name == "timelapse":  # the strip leaves it out too
        assert Image.open(tmp_path / f"{name}-strip.png").size == (4 * 16 + 3 * 2, 16)


def test_a_damaged_snapshot_is_named_with_its_reason(fake):
    broken = sorted((fake / "snapshots").iterdir())[0]
    broken.write_bytes(b"junk\n")
    with pytest.raises(artgan.ArtganError) as error:
        artgan.Snapshot(0, broken).pixels()
    assert str(error.value) == (f"{broken}: unreadable image (cannot identify image file); "
                                "delete the file or copy it again")


@pytest.mark.parametrize("name", ["timelapse", "compare"])
def test_a_run_with_no_readable_snapshot_is_one_error_and_leaves_no_film(fake, tmp_path, name):
    for path in (fake / "snapshots").iterdir():
        path.write_bytes(b"junk")
    with pytest.raises(artgan.ArtganError, match=f"{fake}: none of its snapshots can be read .first: .*step-0000000"):
        renderer(name, out=tmp_path / f"{name}.mp4").render(fake)
    assert list(tmp_path.glob(f"*{name}*")) == []

# --- interpolation -----------------------------------------------------------------------------

def test_interpolation_walks_from_the_first_seed_to_the_last(projection, tmp_path):
    out = tmp_path / "walk.mp4"
    renderer("interpolation", seeds=[3, 17, 42], frames=4, fps=12, size=32, smooth=False, out=out).render(projection)
    meta, frames = read_film(out)
    assert (meta["codec"], meta["fps"], meta["size"], len(frames)) == ("h264", 12, (32, 32), 2 * 4 + 1)
    assert distance(frames[0], scaled(keyframe(projection, 3), 2)) < 4
    assert distance(frames[4], scaled(keyframe(projection, 17), 2)) < 4
    assert distance(frames[-1], scaled(keyframe(projection, 42), 2)) < 4
    assert distance(frames[0], frames[-1]) > 20


def neighbours(frames: np.ndarray) -> list[float]:
    return [distance(a, b) for a, b in zip(frames, frames[1:])]


@pytest.mark.parametrize("options", [{"mode": "slerp", "loop": True, "seeds": [3, 17, 42]},
                                     {"mode": "lerp", "loop": True, "easing": "ease-in-out"},
                                     {"mode": "noise-loop", "keyframes": 3}])
def test_looping_films_lead_smoothly_back_into_their_first_frame(projection, tmp_path, options):
    out = tmp_path / "loop.mp4"
    renderer("interpolation", frames=8, out=out, **options).render(projection)
    _, frames = read_film(out)
    assert len(frames) == 8 * (3 if "seeds" in options else options.get("keyframes", 4))
    steps = neighbours(frames)
    wrap = distance(frames[-1], frames[0])
    # No jump: the way back to the start is a step like the others. (Equal steps in z are not
    # exactly equal in pixels, so it may exceed the largest by a few percent; a jump is 3x+.)
    assert wrap <= 1.1 * max(steps) and wrap < 2 * np.median(steps)
    assert max(steps) < 0.5 * max(distance(frames[0], frame) for frame in frames)  # it does move


def test_an_open_walk_does_not_loop(projection, tmp_path):
    out = tmp_path / "open.mp4"
    renderer("interpolation", seeds=[3, 17, 42], frames=8, out=out).render(projection)
    _, frames = read_film(out)
    assert distance(frames[-1], frames[0]) > 3 * max(neighbours(frames))


def test_the_same_arguments_give_the_same_frames(projection, tmp_path):
    films = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        renderer("interpolation", seed=seed, frames=3, grid=2, out=tmp_path / f"{name}.mp4").render(projection)
        films.append(read_film(tmp_path / f"{name}.mp4")[1])
    assert np.array_equal(films[0], films[1])
    assert not np.array_equal(films[0], films[2])


def test_a_batch_of_walks_is_tiled_frame_by_frame_as_a_grid():
    samples = np.random.default_rng(0).integers(0, 256, (2 * 9, 5, 7, 3), dtype=np.uint8)  # 2 frames of 3x3 walks
    frames = tiled(samples, 3)
    assert frames.shape == (2, 15, 21, 3)
    for index, frame in enumerate(frames):
        assert np.array_equal(frame, np.asarray(grid(samples[index * 9:(index + 1) * 9], columns=3)))


def test_a_grid_of_walks_in_batches_and_seconds_set_the_length(projection, tmp_path):
    out = tmp_path / "grid.mp4"
    renderer("interpolation", seeds=[3, 17], grid=2, seconds=1.5, fps=10, size=64, smooth=False, batch_size=8,
             out=out).render(projection)
    batches = list(Projection.batches)
    assert max(batches) <= 8 and sum(batches) == 15 * 4  # 15 frames of 4 walks, 2 frames at a time
    meta, frames = read_film(out)
    assert meta["size"] == (64, 64) and len(frames) == 15
    assert distance(frames[0], scaled(keyframe(projection, 3, walks=4), 2)) < 4  # 4 walks, 16 px each
    assert distance(frames[-1], scaled(keyframe(projection, 17, walks=4), 2)) < 4


def test_the_film_is_512_px_and_smooth_whatever_the_model_size(projection, tmp_path):
    out = tmp_path / "watchable.mp4"
    renderer("interpolation", seeds=[3, 17], frames=2, out=out).render(projection)  # a 16 px model
    meta, frames = read_film(out)
    assert meta["size"] == (512, 512) and len(frames) == 3
    # scaled by ffmpeg, it looks like the picture scaled smoothly in Python
    smooth = np.asarray(film.fit(Image.fromarray(keyframe(projection, 3)), 512, smooth=True))
    assert distance(frames[0], smooth) < 3
    # block edges become ramps, not the one-pixel steps of crisp blocks
    row, blocks = frames[0, 300].astype(int), scaled(keyframe(projection, 3), 32)[300].astype(int)
    assert np.abs(np.diff(row, axis=0)).max() < 0.5 * np.abs(np.diff(blocks, axis=0)).max()


def test_truncation_zero_is_the_average_image(projection, tmp_path):
    out = tmp_path / "flat.mp4"
    renderer("interpolation", truncation=1e-9, frames=3, out=out).render(projection)
    _, frames = read_film(out)
    assert max(neighbours(frames)) < 1 and abs(frames.mean() - 127.5) < 2  # tanh(0): mid grey


def test_interpolation_options_that_contradict_are_refused():
    options = plugins.get("renderer", "interpolation").cls.Options
    for bad in ({"frames": 3, "seconds": 2}, {"seeds": [1]}, {"mode": "noise-loop", "seeds": [1, 2]}):
        with pytest.raises(ValueError):
            options.model_validate(bad)


def test_a_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(artgan.ArtganError, match="nothing.pt: no such checkpoint"):
        renderer("interpolation").render(tmp_path / "nothing.pt")


def test_slerp_keeps_the_ends_and_survives_parallel_vectors():
    a, b = torch.randn(2, 1, 16, generator=torch.Generator().manual_seed(0))
    u = torch.tensor([0.0, 0.5, 1.0])[:, None, None]
    path = slerp(a, b, u)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[2], b, atol=1e-5)
    for twin in (a.clone(), a * (1 + 1e-7), a * 3):  # the same direction: no arc to follow
        path = slerp(a, twin, u)
        assert torch.isfinite(path).all() and torch.allclose(path[1], (a + twin) / 2, atol=1e-4)


def test_noise_loop_closes_and_keeps_the_prior_scale():
    directions = torch.randn(6, 1, 4096, generator=torch.Generator().manual_seed(0))
    angles = torch.linspace(0, 2 * torch.pi, 9)
    points = noise_loop(directions, angles)
    assert torch.allclose(points[0], points[-1], atol=1e-4)
    assert ((points.std(dim=-1) - 1).abs() < 0.05).all()


# --- loss-plot and compare ---------------------------------------------------------------------

def test_loss_plot_draws_the_metrics(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": s, "loss_d": 1 / s, "loss_g": s / 10, "images_per_s": 50 + s} for s in range(1, 30)]
    rows.insert(10, {"step": 8, "event": "rollback", "failed_at": 10, "reason": "loss_d=nan", "attempt": 1})
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    [path] = renderer("loss-plot", smooth=3).render(run)
    assert path == run / "loss.png"
    picture = Image.open(path)
    assert picture.size == (1000, 600)
    pixels = np.asarray(picture.convert("RGB")).reshape(-1, 3)
    assert all((pixels == colour).all(1).any() for colour in ([31, 119, 180], [255, 127, 14]))  # D and G lines
    (run / "metrics.jsonl").write_text("")
    with pytest.raises(artgan.ArtganError, match="no metrics yet"):
        renderer("loss-plot").render(run)


def test_compare_shows_runs_side_by_side_step_for_step(fake, tmp_path):
    short = fake_run(tmp_path / "other", count=3, seed=1)  # other colours, and only steps 0..200
    out = tmp_path / "cmp.mp4"
    renderer("compare", runs=[short], caption=False, hold=0, out=out).render(fake)
    meta, frames = read_film(out)
    assert len(frames) == 5
    width, height = meta["size"]
    assert width == 2 * 32 + 8 and height > 32  # two 32 px tiles, a gap, a name label above
    label = height - 32
    for index, frame in enumerate(frames):
        assert distance(frame[label:, :32], snapshot(fake, index)) < 3
        assert distance(frame[label:, 40:], snapshot(short, min(index, 2))) < 3  # holds its last one
    assert frames[0, :label].max() > 150  # the names are written


def test_compare_labels_runs_of_the_same_name_by_the_folders_that_tell_them_apart(tmp_path):
    first, second = fake_run(tmp_path / "a" / "runs"), fake_run(tmp_path / "b" / "runs", seed=1)
    assert first.name == second.name == "fake"
    assert labels([first, second]) == ["a/runs/fake", "b/runs/fake"]
    assert labels([first, tmp_path]) == ["fake", tmp_path.name]  # apart already: names alone
    assert labels([first, first]) == [str(first.resolve())] * 2  # the same run twice: no end to look for
    out = tmp_path / "cmp.mp4"
    renderer("compare", runs=[second], caption=False, hold=0, out=out).render(first)
    _, frames = read_film(out)
    label = frames.shape[1] - 32
    assert distance(frames[0, :label, :32], frames[0, :label, 40:]) > 1  # two different labels


# --- pictures: their format and where they go --------------------------------------------------

def metrics_run(folder):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"step": s, "loss_d": 1 / s, "loss_g": s / 10, "images_per_s": 50 + s} for s in range(1, 30)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


@pytest.mark.parametrize("name, kind", [("g.png", "PNG"), ("g.jpg", "JPEG"), ("g.JPEG", "JPEG"), ("g.webp", "WEBP")])
def test_pictures_are_written_in_the_format_their_name_says(projection, tmp_path, name, kind):
    [path] = renderer("grid", count=4, padding=0, out=tmp_path / name).render(projection)
    [plot] = renderer("loss-plot", out=tmp_path / f"loss-{name}").render(metrics_run(tmp_path / "run"))
    assert (path, plot) == (tmp_path / name, tmp_path / f"loss-{name}")
    for picture in (path, plot):
        with Image.open(picture) as opened:
            assert opened.format == kind
    assert distance(np.asarray(Image.open(path).convert("RGB")), keyframe(projection, 0, walks=4)) < 3
    assert Image.open(plot).size == (1000, 600)


@pytest.mark.parametrize("name", ["grid", "grid.gif", "grid.png.txt"])
def test_a_picture_name_of_another_kind_is_refused_with_the_options(tmp_path, name):
    for renderer_name in ("grid", "loss-plot"):
        with pytest.raises(ValidationError, match="pictures are written as .png, .jpg, .jpeg, .webp; "
                                                  "give a name ending in one of them"):
            renderer(renderer_name, out=tmp_path / name)
    assert not (tmp_path / name).exists()


def test_grid_and_interpolation_of_a_run_checkpoint_go_into_the_run_folder(fake, projection, tmp_path):
    checkpoints = fake / "checkpoints"
    checkpoints.mkdir()
    inside = checkpoints / "step-0000400.pt"
    shutil.copy(projection, inside)
    assert renderer("grid", count=4).render(inside) == [fake / "grid.png"]
    assert renderer("interpolation", frames=2, size=32).render(inside) == [fake / "interpolation.mp4"]
    assert artgan.RunFolder(fake).pictures() == [fake / "grid.png"]  # where the studio looks
    older = checkpoints / "step-0000200.pt"  # an older one: its step in the name, the run's own kept
    shutil.copy(projection, older)
    assert renderer("grid", count=4).render(older) == [fake / "grid-step-0000200.png"]
    assert renderer("interpolation", frames=2, size=32).render(older) == [fake / "interpolation-step-0000200.mp4"]
    loose = tmp_path / "loose" / "checkpoints"  # a folder named so, in no run: beside the checkpoint
    loose.mkdir(parents=True)
    shutil.copy(projection, loose / "step-0000001.pt")
    assert renderer("grid", count=4).render(loose / "step-0000001.pt") == [loose / "grid.png"]
    assert renderer("grid", count=4).render(projection) == [tmp_path / "grid.png"]


# --- recipes and the demo ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real (tiny) run folder: snapshots of steps 0, 2 and 4, checkpoints, metrics."""
    return tiny_run(tmp_path_factory.mktemp("tiny"))


def test_recipe_render_steps_run_on_the_trained_run(trained, tmp_path):
    run = trained
    recipe = tiny_recipe(tmp_path, renders=[
        {"use": "timelapse", "hold": 0}, {"use": "interpolation", "frames": 2, "loop": True},
        {"use": "loss-plot"}])
    written = pipeline.render(recipe, run)
    assert written == [run / "timelapse.mp4", run / "interpolation.mp4", run / "loss.png"]
    assert len(read_film(run / "timelapse.mp4")[1]) == 3  # snapshots of steps 0, 2 and 4
    assert len(read_film(run / "interpolation.mp4")[1]) == 2 * 4


def test_the_demo_ends_with_a_timelapse_also_as_gif_and_a_ten_second_looping_film(trained, tmp_path):
    run = trained
    demo = tomllib.loads((resources.files("artgan") / "demo.toml").read_text())
    written = pipeline.render(tiny_recipe(tmp_path, renders=demo["render"]), run)
    assert written == [run / "grid.png", run / "timelapse.mp4", run / "timelapse.gif", run / "interpolation.mp4"]
    meta, frames = read_film(run / "interpolation.mp4")
    assert (meta["fps"], meta["size"], len(frames)) == (30, (512, 512), 300)
    meta, frames = read_film(run / "timelapse.mp4")
    assert meta["size"][0] == 512  # the caption adds height below the 512 px grid
    with Image.open(run / "timelapse.gif") as gif:
        assert (gif.size, gif.n_frames) == (meta["size"], len(frames))


def test_pictures_and_films_are_listed_whatever_the_case_of_their_extension(fake):
    for name in ("G.JPG", "grid.png", "Walk.MP4", "notes.txt"):
        (fake / name).write_bytes(b"x")
    (fake / "folder.png").mkdir()  # a folder so named is no picture
    folder = artgan.RunFolder(fake)
    assert folder.pictures() == [fake / "G.JPG", fake / "grid.png"]
    assert folder.films() == [fake / "Walk.MP4"]
