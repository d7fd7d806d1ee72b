"""Credits from a dataset's manifest, for a dataset folder or a run folder."""
from __future__ import annotations

import json

import tomli_w
from typer.testing import CliRunner

from artgan import plugins
from artgan.cli import app
from artgan.credits import markdown, write_credits


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
    assert "come from the 3 works below" in text
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


def test_other_folders_are_a_user_error(tmp_path):
    result = CliRunner().invoke(app, ["credits", str(tmp_path)])
    assert result.exit_code == 2
    assert "neither a dataset folder" in result.output
    (tmp_path / "recipe.lock.toml").write_text(tomli_w.dumps({"lock": {"dataset": str(tmp_path / "gone")}}))
    result = CliRunner().invoke(app, ["credits", str(tmp_path)])
    assert result.exit_code == 2
    assert "gone is gone; rebuild it" in result.output


def test_the_credits_renderer_writes_credits_md_into_the_run_folder(tmp_path):
    dataset(tmp_path, [credited("http://a/img/1.jpg")])
    run = tmp_path / "runs" / "set"
    run.mkdir(parents=True)
    (run / "recipe.lock.toml").write_text(tomli_w.dumps({"name": "set", "lock": {"dataset": "data/set"}}))
    renderer = plugins.get("renderer", "credits").cls()
    assert renderer.render(run) == [run / "CREDITS.md"]
    assert '"1.jpg" by Ann, licensed by 4.0' in (run / "CREDITS.md").read_text()
