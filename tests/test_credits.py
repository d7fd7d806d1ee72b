"""Credits from a dataset's manifest, for a dataset folder or a run folder: downloads, local
files, videos and duplicated photos with their sidecars, and the end card of films."""
from __future__ import annotations

import json
import types

import numpy as np
import tomli_w
from clips import still_shot_with_a_walker, write_video
from films import Projection, distance, fake_run, projection_checkpoint, read_film
from PIL import Image
from typer.testing import CliRunner

import artgan
from artgan import plugins
from artgan.cli import app
from artgan.credits import credits_card, markdown, write_credits
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe


def credited(url, creator="Ann", license="by", version="4.0"):
    return {"url": url, "landing_page": url.replace("/img/", "/page/"), "creator": creator,
            "license": license, "license_version": version,
            "attribution": f'"{url.rsplit("/", 1)[1]}" by {creator}, licensed {license} {version}'.rstrip()}


def dataset(root, records):
    folder = root / "data" / "set"
    folder.mkdir(parents=True)
    lines = [json.dumps({"file": f"images/{i:07d}.png", "origin": "x", "info": info})
             for i, info in enumerate(records)]
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_each_original_is_credited_once_with_its_links(tmp_path):
    folder = dataset(tmp_path, [credited("http://a/img/1.jpg"), credited("http://a/img/1.jpg"),
                                credited("http://a/img/2.jpg", creator="Bo"), {"video": "ep1.mp4", "time": 2.0},
                                credited("http://a/img/3.jpg", license="", version="")])
    text = markdown(folder)
    assert text.startswith("# Credits\n\n4 of the 5 images in ")
    assert "come from the 3 works below; the others carry no credit information (drawn images" in text
    assert "**1 of these works have no known licence" in text
    assert ('- "1.jpg" by Ann, licensed by 4.0  \n'
            '  image <http://a/img/1.jpg>, page <http://a/page/1.jpg>, 2 images') in text
    assert '- "2.jpg" by Bo, licensed by 4.0  \n  image <http://a/img/2.jpg>, page <http://a/page/2.jpg>\n' in text
    assert text.count("\n- ") == 3


def test_a_run_folder_leads_to_its_dataset_and_the_command_writes_credits_md(tmp_path, monkeypatch):
    folder = dataset(tmp_path, [credited("http://a/img/1.jpg")])
    run = tmp_path / "runs" / "set"
    run.mkdir(parents=True)
    # written relative to the folder training ran in, which need not be the current one
    (run / "recipe.lock.toml").write_text(tomli_w.dumps({"name": "set", "lock": {"dataset": "data/set"}}))
    monkeypatch.chdir(run)
    text, path = write_credits(run)
    assert path == run / "CREDITS.md" and path.read_text() == text
    assert str(folder.absolute()) in text
    result = CliRunner().invoke(app, ["credits", str(folder)])
    assert result.exit_code == 0
    assert '"1.jpg" by Ann, licensed by 4.0' in result.output
    assert (folder / "CREDITS.md").exists()


def test_a_dataset_without_credited_works_says_so_plainly_and_how_to_credit_one(tmp_path):
    folder = dataset(tmp_path, [{"shape": "ellipse"}, {"shape": "square"}])
    result = CliRunner().invoke(app, ["credits", str(folder)])
    assert result.exit_code == 0, result.output
    text = (folder / "CREDITS.md").read_text()
    assert text.startswith(f"# Credits\n\nNone of the 2 images in {folder} names a work (drawn images")
    assert "`creator` and `license` options or a credits.toml" in text and "works below" not in text
    assert len(text.strip().splitlines()) == 3  # the title, a blank line, one line


def test_other_folders_are_a_user_error(tmp_path):
    result = CliRunner().invoke(app, ["credits", str(tmp_path)])
    assert result.exit_code == 2
    assert "neither a dataset folder" in result.output
    (tmp_path / "recipe.lock.toml").write_text(tomli_w.dumps({"lock": {"dataset": str(tmp_path / "gone")}}))
    result = CliRunner().invoke(app, ["credits", str(tmp_path)])
    assert result.exit_code == 2
    assert "gone is gone; rebuild it" in result.output
    (tmp_path / "recipe.lock.toml").write_text(tomli_w.dumps({"lock": {"dataset_images": 5}}))  # an older run
    result = CliRunner().invoke(app, ["credits", str(tmp_path)])
    assert result.exit_code == 2
    assert "names no dataset" in result.output and "data/NAME" in result.output


def test_the_credits_renderer_writes_credits_md_into_the_run_folder(tmp_path):
    dataset(tmp_path, [credited("http://a/img/1.jpg")])
    run = tmp_path / "runs" / "set"
    run.mkdir(parents=True)
    (run / "recipe.lock.toml").write_text(tomli_w.dumps({"name": "set", "lock": {"dataset": "data/set"}}))
    renderer = plugins.get("renderer", "credits").cls()
    assert renderer.render(run) == [run / "CREDITS.md"]
    assert '"1.jpg" by Ann, licensed by 4.0' in (run / "CREDITS.md").read_text()


def frames_dataset(root, build_options, video_name="clip.mp4"):
    """A dataset built by the video-frames source from a small clip written here."""
    video = root / video_name
    write_video(video, 50, still_shot_with_a_walker, (320, 180))
    data = {"name": "set", "resolution": 32, "model": {"use": "dcgan"},
            "source": [{"use": "video-frames", "paths": [str(video)], "every": 0.5, **build_options}]}
    return build_dataset(parse_recipe(data, root / "recipe.toml"), root).dataset.folder, video


def test_a_video_is_credited_from_the_recipe_with_the_times_its_frames_came_from(tmp_path):
    folder, _ = frames_dataset(tmp_path, {"title": "Walker", "creator": "Ann", "license": "CC BY 4.0",
                                          "url": "https://example.org/walker"})
    text = markdown(folder)
    assert f"7 of the 7 images in {folder} come from the 1 works below.\n" in text
    assert ('- "Walker" by Ann, licensed CC BY 4.0  \n  <https://example.org/walker>, file clip.mp4, '
            '7 images (frames at 0:00-0:03)') in text
    assert "no known licence" not in text


def test_sidecars_credit_mixed_folders_and_unknown_licences_are_warned_about(tmp_path):
    photos = tmp_path / "photos"
    (photos / "grandma").mkdir(parents=True)
    for name in ("grandma/a.png", "grandma/b.png", "c.png", "d.png"):
        Image.new("RGB", (40, 40), (len(name) * 20, 90, 140)).save(photos / name)
    (photos / "credits.toml").write_text('creator = "Bo"\n')  # the whole folder, licence unknown
    (photos / "grandma" / "credits.toml").write_text(
        'title = "Grandma\'s album"\ncreator = "Cy"\nlicense = "CC BY-SA 4.0"\n')
    (photos / "d.png.credits.toml").write_text('title = "Dog"\nlicense = "CC0"\n')  # creator from the folder
    data = {"name": "set", "resolution": 32, "model": {"use": "dcgan"},
            "source": [{"use": "folder", "path": str(photos)}]}
    folder = build_dataset(parse_recipe(data, tmp_path / "recipe.toml"), tmp_path).dataset.folder
    text = markdown(folder)
    assert "4 of the 4 images" in text and "the 3 works below" in text
    assert '- "Grandma\'s album" by Cy, licensed CC BY-SA 4.0  \n  file a.png, 2 images' in text
    assert '- "c.png" by Bo, licence unknown  \n  file c.png\n' in text
    assert '- "Dog" by Bo, licensed CC0  \n  file d.png\n' in text
    assert "**1 of these works have no known licence" in text
    result = CliRunner().invoke(app, ["credits", str(folder)])
    assert result.exit_code == 0
    assert ('warning: 1 works have no known licence (first: "c.png" by Bo, licence unknown); give it with '
            "the source's `license` option or a credits.toml") in result.stderr


def test_a_bad_credits_file_is_a_user_error_naming_it(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 40), "red").save(photos / "a.png")
    (photos / "credits.toml").write_text('author = "Bo"\n')
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(tomli_w.dumps({"name": "set", "resolution": 32, "model": {"use": "dcgan"},
                                     "source": [{"use": "folder", "path": str(photos)}]}))
    result = CliRunner().invoke(app, ["dataset", str(recipe), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{photos / 'credits.toml'}: author: Extra inputs are not permitted; a credits file may set only " \
           "title, creator, license, url" in result.output


def test_a_duplicated_photo_is_one_work(tmp_path):
    Image.new("RGB", (40, 40), "red").save(tmp_path / "me.png")
    data = {"name": "set", "resolution": 32, "model": {"use": "dcgan"},
            "source": [{"use": "duplicate", "path": str(tmp_path / "me.png"), "count": 5, "creator": "Di",
                        "license": "CC BY 4.0"}]}
    folder = build_dataset(parse_recipe(data, tmp_path / "recipe.toml"), tmp_path).dataset.folder
    assert '- "me.png" by Di, licensed CC BY 4.0  \n  file me.png, 5 images' in markdown(folder)


def test_a_film_can_end_with_a_credits_card(tmp_path):
    folder = dataset(tmp_path, [{"work": {"file": "/clips/walk.mp4", "title": "Walk", "creator": "Ann",
                                          "license": "CC BY 4.0"}, "time": 1.0}])
    run = fake_run(tmp_path, count=4, side=80)
    (run / "recipe.lock.toml").write_text(tomli_w.dumps({"name": "fake", "train": {"grid": 2},
                                                         "lock": {"dataset": str(folder)}}))
    renderer = plugins.get("renderer", "timelapse").cls
    out = tmp_path / "film.mp4"
    renderer(renderer.Options(out=out, fps=10, hold=0.5, end_card=1.0, caption=False)).render(run)
    _, frames = read_film(out)
    assert len(frames) == 4 + 5 + 10  # the snapshots, the last held half a second, a second of card
    last_snapshot = np.asarray(Image.open(run / "snapshots" / "step-0000300.png"))
    assert distance(frames[8], last_snapshot) < 8
    card = np.asarray(credits_card([run], (160, 160)))
    assert all(distance(frame, card) < 8 for frame in frames[9:])
    # the card is black with light text: "Trained on", then the work
    assert card.mean() < 60 and card.max() > 200
    assert not np.array_equal(card, np.asarray(credits_card([dataset(tmp_path / "drawn", [{}])], (160, 160))))


def test_a_long_list_of_works_ends_the_card_with_a_pointer_to_credits_md(tmp_path):
    works = [credited(f"http://a/img/{i}.jpg", creator=f"Creator number {i}") for i in range(60)]
    card = credits_card([dataset(tmp_path, works)], (160, 90))
    assert card.size == (160, 90)
    rows = (np.asarray(card).max(axis=(1, 2)) > 100).nonzero()[0]
    assert rows.min() > 0 and rows.max() < 89  # the text stays inside the card


def test_interpolation_and_compare_films_end_with_the_card_too(register_plugin, tmp_path):
    module = types.ModuleType("test_projection_model")
    module.register_models = artgan.hookimpl(lambda register: register("projection", Projection))
    register_plugin(module, "test-projection-model")
    folder = dataset(tmp_path, [credited("http://a/img/1.jpg")])
    runs = []
    for name in ("one", "two"):
        run = fake_run(tmp_path / name, count=2, side=32)
        (run / "recipe.lock.toml").write_text(tomli_w.dumps({"name": name, "train": {"grid": 2},
                                                             "lock": {"dataset": str(folder)}}))
        runs.append(run)
    point = projection_checkpoint(runs[0] / "checkpoints" / "step-0000100.pt", resolution=64)
    interpolation = plugins.get("renderer", "interpolation").cls
    film = tmp_path / "walk.mp4"
    interpolation(interpolation.Options(out=film, fps=10, seconds=1, end_card=0.5)).render(point)
    _, frames = read_film(film)
    assert len(frames) == 10 + 5
    assert distance(frames[-1], np.asarray(credits_card([runs[0]], (frames.shape[2], frames.shape[1])))) < 8  # drawn at the film's size
    compare = plugins.get("renderer", "compare").cls
    film = tmp_path / "side-by-side.mp4"
    compare(compare.Options(runs=[runs[1]], out=film, fps=10, hold=0, end_card=0.5)).render(runs[0])
    _, frames = read_film(film)
    card = np.asarray(credits_card(runs, (frames.shape[2], frames.shape[1])))
    assert len(frames) == 2 + 5 and distance(frames[-1], card) < 8


def test_the_card_follows_frames_ffmpeg_scales_unchanged_in_the_mp4_and_the_gif(register_plugin, tmp_path,
                                                                                 monkeypatch):
    module = types.ModuleType("test_projection_model")
    module.register_models = artgan.hookimpl(lambda register: register("projection", Projection))
    register_plugin(module, "test-projection-model")
    folder = dataset(tmp_path, [credited("http://a/img/1.jpg")])
    run = fake_run(tmp_path / "one", count=2, side=32)
    (run / "recipe.lock.toml").write_text(tomli_w.dumps({"name": "one", "train": {"grid": 2},
                                                        "lock": {"dataset": str(folder)}}))
    point = projection_checkpoint(run / "checkpoints" / "step-0000100.pt", resolution=16)
    # ffmpeg reads the card from a temporary folder named in its filter graph: one whose name
    # needs escaping at both of the graph's levels
    odd = tmp_path / "it's, [odd]; name:x"
    odd.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(odd))
    interpolation = plugins.get("renderer", "interpolation").cls
    films = {card: tmp_path / f"walk-{card}.mp4" for card in (0, 0.5)}
    for card, out in films.items():
        interpolation(interpolation.Options(out=out, fps=10, seconds=4, size=128, end_card=card,
                                            gif=bool(card))).render(point)
    (_, plain), (meta, carded) = read_film(films[0]), read_film(films[0.5])
    assert meta["size"] == (128, 128) and len(plain) == 40 and len(carded) == 40 + 5
    assert max(distance(a, b) for a, b in zip(plain, carded)) < 0.5  # the same walk: scaled by ffmpeg either way
    assert meta["pix_fmt"].split("(")[0] == "yuv420p"  # limited range, as without a card (not yuvj420p)
    card = np.asarray(credits_card([run], (128, 128)))
    assert all(distance(frame, card) < 8 for frame in carded[40:])
    with Image.open(films[0.5].with_suffix(".gif")) as gif:
        assert gif.n_frames == 45
        gif.seek(44)
        assert distance(np.asarray(gif.convert("RGB")), card) < 12
    assert list(odd.iterdir()) == []  # the card's folder is gone
