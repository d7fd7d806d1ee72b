"""artgan studio over real HTTP (a server on 127.0.0.1): the gallery and run pages, the composer's
command and samples, live events, the command. tests/hostile/test_studio_access.py tries to get
out of the workspace and in without the token; tests/test_studio_browser.py drives the pages in
chromium."""
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from unittest.mock import ANY

import httpx
import pytest
from studio_helpers import event_lines, studio, train_run, workspace  # noqa: F401  (fixtures)
from test_api import tiny_file
from test_training import TINY

import artgan
from artgan import pipeline, progress
from artgan.runfolder import RunFolder
from artgan.studio import start, workspace_of
from artgan.files import write_bytes_atomic
from artgan.studio.events import event_for
from artgan.studio.metrics import POINTS, MetricsReader
from artgan.studio.workspace import Workspace


def test_a_run_resumed_with_fewer_steps_than_it_reached_shows_where_it_ended(tmp_path):
    run = train_run(tmp_path, "past")  # 6 steps
    pipeline.train(artgan.load_recipe(run / "recipe.lock.toml", set={"train.steps": 3}), tmp_path, resume=True)
    summary = Workspace(tmp_path).summary("past")
    assert (summary.step, summary.total, summary.state) == (6, 6, "finished")  # not "6 / 3"


def test_the_gallery_lists_every_run_of_the_workspace(studio):
    runs = {run["name"]: run for run in httpx.get(studio.url + "api/runs").json()}
    assert sorted(runs) == ["broken", "old", "tiny-a", "tiny-b"]  # not the folder symlinked from outside
    a = runs["tiny-a"]
    assert (a["state"], a["step"], a["total"], a["model"], a["resolution"]) == ("finished", 6, 6, "dcgan", 32)
    assert a["dataset"] == "tiny-a" and a["dataset_images"] == 24 and a["images_per_s"] > 0
    assert a["newest_snapshot"] == 6
    assert (runs["old"]["state"], runs["old"]["newest_snapshot"]) == ("unknown", 100)  # made before locks
    assert runs["broken"]["state"] == "interrupted" and runs["broken"]["newest_snapshot"] is None
    assert runs["tiny-a"]["sweep"] == runs["tiny-b"]["sweep"] == "tiny" and runs["old"]["sweep"] == ""
    html = httpx.get(studio.url).text
    for name in runs:
        assert f'href="/runs/{name}"' in html
    assert 'src="/files/runs/tiny-a/snapshots/6.png"' in html
    assert 'href="/compare?sweep=tiny"' in html


def test_a_sweep_is_grouped_by_the_name_its_locks_record(tmp_path):
    """Labels with dashes and a run named like a sweep's would fool a guess from the run names."""
    recipe = artgan.load_recipe(tiny_file(tmp_path, sweep={"seed": [1, 2], "labels": ["dark-blue", "light"]},
                                          train={**TINY["train"], "steps": 2}))
    artgan.sweep(recipe, out=tmp_path)
    lock = RunFolder(tmp_path / "runs" / "tiny-dark-blue").lock()
    assert (lock.sweep, lock.sweep_label) == ("tiny", "dark-blue")
    train_run(tmp_path, "tiny-dark-red")  # not of the sweep, though named as if it were
    served = start(tmp_path)
    try:
        runs = {run["name"]: run["sweep"] for run in httpx.get(served.url + "api/runs").json()}
        assert runs == {"tiny-dark-blue": "tiny", "tiny-light": "tiny", "tiny-dark-red": ""}
        compare = httpx.get(served.url + "compare", params={"sweep": "tiny"}).text
        assert "tiny-dark-blue" in compare and "tiny-light" in compare and "tiny-dark-red" not in compare
        assert 'one run of the sweep <a href="/compare?sweep=tiny">' in httpx.get(served.url + "runs/tiny-light").text
    finally:
        served.stop()


def test_a_run_page_shows_snapshots_metrics_films_recipe_and_dataset(studio):
    page = httpx.get(studio.url + "api/runs/tiny-a").json()
    assert page["snapshots"] == [0, 2, 4, 6]  # not 999, a symlink out of the workspace
    assert [row["step"] for row in page["metrics"] if "event" not in row] == [1, 2, 3, 4, 5, 6]
    assert page["best_step"] in (0, 2, 4, 6)
    assert page["dataset"]["count"] == 24 and page["dataset"]["sheets"] == ["contact-sheet.png"]
    html = httpx.get(studio.url + "runs/tiny-a").text
    assert 'name = &#34;tiny-a&#34;' in html and "/files/data/tiny-a/contact-sheet.png" in html
    assert httpx.get(studio.url + "files/data/tiny-a/contact-sheet.png").headers["content-type"] == "image/png"
    assert httpx.get(studio.url + "files/runs/tiny-a/snapshots/4.png").content[:4] == b"\x89PNG"


def test_a_run_page_shows_the_pictures_renderers_wrote(studio, workspace):
    page = httpx.get(studio.url + "api/runs/tiny-a").json()
    assert page["pictures"] == ["grid.png", "loss.png"]  # not outside.png, a symlink out of the workspace
    html = httpx.get(studio.url + "runs/tiny-a").text
    for name in page["pictures"]:
        served = httpx.get(f"{studio.url}files/runs/tiny-a/picture/{name}")
        assert served.content == (workspace / "runs" / "tiny-a" / name).read_bytes()
        assert f'src="/files/runs/tiny-a/picture/{name}"' in html
    assert httpx.get(studio.url + "runs/tiny-a?part=films").text.count("<img") == 2


def metrics_lines(steps, shots_every: int = 100) -> str:
    """metrics.jsonl lines: a loss row a step, and a snapshot's line every ``shots_every`` steps."""
    lines = []
    for step in steps:
        lines.append({"step": step, "loss_d": step % 7 / 7, **({"r1": 0.1} if step % 3 else {})})
        if step % shots_every == 0:
            lines.append({"step": step, "event": "snapshot", "diversity": step * 37 % 101 / 100})
    return "".join(json.dumps(line) + "\n" for line in lines)


def held(page: dict, answer: dict) -> dict:
    """What a live page holds after ``answer`` of MetricsReader.since (as studio.js keeps it)."""
    rows, events = ([], []) if answer["reset"] else (page["rows"], page["events"])
    return {"rows": rows[:answer["start"]] + answer["rows"], "events": events + answer["events"],
            "best": answer["best"], "cursor": answer["cursor"]}


def everything(reader: MetricsReader, path) -> dict:
    """What a page opened now holds (its cursor left out)."""
    return {**held({}, reader.since(path)), "cursor": None}


def test_a_live_page_is_sent_what_is_new_since_its_cursor(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(metrics_lines(range(1, 3002)))
    reader = MetricsReader()
    first = reader.since(path)
    assert first["reset"] and first["start"] == 0 and len(first["rows"]) == 1501  # by 2; the last of one row
    assert first["rows"][-1] == {"step": 3001, "loss_d": 3001 % 7 / 7, "r1": 0.1}
    page = held({}, first)
    with open(path, "a") as metrics:
        metrics.write(metrics_lines(range(3002, 3301)))
    answer = reader.since(path, page["cursor"])
    assert not answer["reset"] and answer["start"] == 1500 and len(answer["rows"]) == 150  # the last one again
    assert [event["step"] for event in answer["events"]] == [3100, 3200, 3300]
    assert len(json.dumps(answer)) * 5 < len(json.dumps(first))
    page = held(page, answer)
    assert {**page, "cursor": None} == everything(reader, path) == everything(MetricsReader(), path)
    assert reader.since(path, page["cursor"])["rows"] == []  # nothing new, and every thinned row whole
    with open(path, "a") as metrics:  # 4,500 rows: each thinned row stands for 5 from now on
        metrics.write(metrics_lines(range(3301, 4501)))
    answer = reader.since(path, page["cursor"])
    assert answer["reset"] and len(answer["rows"]) == 900
    page = held(page, answer)
    RunFolder(tmp_path).trim_metrics(2000)  # a resume forgets the lines after its checkpoint (a new file)…
    answer = reader.since(path, page["cursor"])
    assert answer["reset"] and answer["rows"][-1]["step"] == 2000 and answer["events"][-1]["step"] == 2000
    page = held(page, answer)
    with open(path, "r+") as metrics:  # …and a file cut short where it is starts again too
        metrics.truncate(len(metrics_lines(range(1, 1001))))
    answer = reader.since(path, page["cursor"])
    assert answer["reset"] and answer["rows"][-1]["step"] == 1000
    for cursor in (answer["cursor"].replace(answer["cursor"][:16], "0" * 16), "", "x", "1.2.3", "9" * 5000,
                   answer["cursor"].rsplit(".", 1)[0] + "." + "9" * 18):  # another studio's, or none a page sends
        assert everything(reader, path) == {**held({}, reader.since(path, cursor)), "cursor": None}
        assert reader.since(path, cursor)["reset"]
    assert {**reader.since(tmp_path / "none.jsonl"), "cursor": None} == {  # a run that has not logged yet
        "reset": True, "start": 0, "rows": [], "events": [], "best": None, "cursor": None}


def test_a_live_page_holds_the_thinned_charts_however_the_run_grows(tmp_path):
    """Rows and snapshots' lines in bursts, with a resume that forgets lines: after each answer the
    page holds what a page opened then would, at most POINTS rows and about as many snapshots."""
    path = tmp_path / "metrics.jsonl"
    path.write_text("")
    reader, page, step, chance = MetricsReader(), {"cursor": ""}, 0, random.Random(3)
    for burst in range(40):
        if burst == 30:
            step = 1000
            RunFolder(tmp_path).trim_metrics(step)
        added = chance.choice([1, 2, 60, 900, 3000])
        with open(path, "a") as metrics:
            metrics.write(metrics_lines(range(step + 1, step + added + 1), shots_every=3))
        step += added
        page = held(page, reader.since(path, page["cursor"]))
        assert {**page, "cursor": None} == everything(reader, path), burst
        shots = [event for event in page["events"] if event["event"] == "snapshot"]
        assert len(page["rows"]) <= POINTS and len(shots) <= POINTS
        best = max(range(3, step + 1, 3), key=lambda shot: shot * 37 % 101, default=None)  # the first of equals
        assert (page["best"] or {}).get("step") == best


def test_the_live_answer_of_a_run_page(studio):
    url = studio.url + "api/runs/tiny-a/live"
    first = httpx.get(url).json()
    assert first["summary"]["step"] == 6 and first["snapshots"] == [0, 2, 4, 6]
    assert first["metrics"]["reset"] and [row["step"] for row in first["metrics"]["rows"]] == [1, 2, 3, 4, 5, 6]
    again = httpx.get(url, params={"since": first["metrics"]["cursor"], "after": 4}).json()
    assert again["snapshots"] == [6]
    assert again["metrics"] == {**first["metrics"], "reset": False, "start": 6, "rows": [], "events": []}
    assert httpx.get(url, params={"since": "not a cursor"}).json()["metrics"] == {**first["metrics"], "cursor": ANY}
    for after in ("x", "-1", "9" * 5000):
        assert httpx.get(url, params={"after": after}).status_code == 400
    assert httpx.get(studio.url + "api/runs/nothing/live").status_code == 404


def test_the_composer_says_the_command_and_names_a_bad_option(studio):
    ok = httpx.post(studio.url + "api/runs/tiny-a/command", json={"seeds": [3, 17], "seconds": 2, "loop": True})
    assert ok.json()["command"] == ("artgan render interpolation runs/tiny-a/checkpoints/step-0000006.pt "
                                    "--seeds 3,17 --loop --seconds 2.0 --out runs/tiny-a/FILM.mp4")
    bad = httpx.post(studio.url + "api/runs/tiny-a/command", json={"seeds": [3, 17], "seconds": -1})
    assert bad.status_code == 400 and bad.json()["error"].startswith("--seconds:")
    assert httpx.post(studio.url + "api/runs/tiny-a/compose", data={"seeds": "3,17"}).status_code == 415
    assert httpx.post(studio.url + "api/runs/tiny-a/compose", json={"step": 5}).status_code == 404  # not kept


def test_a_sample_is_the_picture_of_its_seed(studio):
    first = httpx.get(studio.url + "files/runs/tiny-a/samples/3.png")
    assert first.status_code == 200 and first.content == httpx.get(studio.url + "files/runs/tiny-a/samples/3.png").content
    assert first.content != httpx.get(studio.url + "files/runs/tiny-a/samples/4.png").content
    assert httpx.get(studio.url + "files/runs/tiny-a/samples/3.png?truncation=9").status_code == 400


def test_progress_goes_to_an_observer_within_the_block():
    """How the composer's renders report progress to the page instead of the terminal."""
    seen = []
    with progress.observed(lambda *counts: seen.append(counts)):
        with progress.task("film", 3) as bar:
            bar.advance(3)
    assert seen[-1] == ("film", 3, 3)
    with progress.task("after", 1, every=0) as bar:  # outside the block: printed as before
        bar.advance(1)
    assert all(label == "film" for label, _, _ in seen)


def test_file_changes_become_events(tmp_path):
    runs = tmp_path / "runs"
    assert event_for(runs, runs / "a" / "snapshots" / "step-0000300.png") == {"run": "a", "kind": "snapshot", "step": 300}
    assert event_for(runs, runs / "a" / "snapshots" / ".step-0000300.png.12.tmp") is None  # before its rename
    assert event_for(runs, runs / "a" / "metrics.jsonl") == {"run": "a", "kind": "metrics"}
    assert event_for(runs, runs / "a" / "x.mp4") == {"run": "a", "kind": "film", "film": "x.mp4"}
    assert event_for(runs, runs / "a" / "grid.png") == {"run": "a", "kind": "film", "film": "grid.png"}
    assert event_for(runs, runs / "a" / "status.json") == {"run": "a", "kind": "state"}
    assert event_for(runs, runs / ".a.lock.owner") == {"run": "a", "kind": "state"}
    assert event_for(runs, runs / "a" / "checkpoints" / "step-0000300.pt") == {"run": "a", "kind": "state"}
    assert event_for(runs, runs / "a" / "snapshots" / "step-0000300.png", gone=True) is None  # pruned
    assert event_for(runs, tmp_path / "elsewhere.png") is None


def test_the_event_stream_pushes_a_new_snapshot(studio, workspace):
    shots = workspace / "runs" / "tiny-b" / "snapshots"
    with event_lines(studio) as lines:
        write_bytes_atomic(shots / "step-0000007.png", (shots / "step-0000006.png").read_bytes())  # as training does
        event = next(json.loads(line[5:]) for line in lines if line.startswith("data:"))
    assert event == {"run": "tiny-b", "kind": "snapshot", "step": 7}


def test_artgan_studio_takes_another_port_when_its_own_is_taken(workspace):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.Popen([sys.executable, "-m", "artgan", "studio", "--workspace", str(workspace),
                                    "--port", str(port), "--no-browser"], stdout=subprocess.PIPE, text=True)
        try:
            said = process.stdout.readline()
            assert said.startswith(f"port {port} is taken: using ")
            url = re.search(r"at (http://\S+)", process.stdout.readline()).group(1)
            for _ in range(100):
                try:
                    assert "tiny-a" in httpx.get(url).text
                    break
                except httpx.ConnectError:  # printed before it listens
                    time.sleep(0.1)
            else:
                pytest.fail("the studio never answered")
        finally:
            process.terminate()
            process.wait(10)


def test_started_in_runs_or_in_a_run_folder_it_shows_the_workspace_above(workspace):
    for given, said in ((workspace / "runs", "is a folder of runs"), (workspace / "runs" / "tiny-a", "is a run folder")):
        root, why = workspace_of(given)
        assert root == workspace.resolve() and said in why and str(workspace.resolve()) in why
        served = start(given)
        try:
            assert "tiny-a" in [run["name"] for run in httpx.get(served.url + "api/runs").json()]
        finally:
            served.stop()
    assert not (workspace / "runs" / "runs").exists() and not (workspace / "runs" / "tiny-a" / "runs").exists()
    assert "(its page: /runs/tiny-a)" in workspace_of(workspace / "runs" / "tiny-a")[1]
    assert workspace_of(workspace) == (workspace, None)
    assert "is a run folder" in workspace_of(workspace / "runs" / "old")[1]  # made before recipe.lock.toml


def test_a_folder_without_runs_is_shown_as_it_is(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "notes").mkdir()  # a folder in runs/ that is not a run
    assert workspace_of(tmp_path / "runs") == (tmp_path / "runs", None)
    assert workspace_of(tmp_path / "runs" / "notes") == (tmp_path / "runs" / "notes", None)


def test_the_command_line_does_not_load_the_web_stack_until_asked():
    probe = "import sys, artgan.cli; print(sorted({'starlette', 'uvicorn', 'torch'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ}).stdout.strip() == "[]"
