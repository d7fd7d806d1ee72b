"""The studio at the edges, over real HTTP on 127.0.0.1: a workspace with no runs, a run folder
deleted while it is shown, a metrics file of 200,000 lines, renders asked for together (and
cancelled), and a run named with spaces and accents."""
import json
import logging
import shutil
import threading
import time
from urllib.parse import quote

import httpx
import pytest
from films import read_film
from studio_helpers import train_run
from test_training import tiny_recipe

from artgan.dataset import build_dataset
from artgan.studio import start
from artgan.studio.metrics import POINTS


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real tiny training (6 steps, checkpoints at 3 and 6), to copy into workspaces."""
    return train_run(tmp_path_factory.mktemp("trained"), "tiny")


@pytest.fixture
def studio_of():
    """Start studios on workspaces; stop them all after the test."""
    started = []

    def open_studio(root):
        started.append(start(root))
        return started[-1]

    yield open_studio
    for served in started:
        served.stop()


@pytest.fixture
def server_errors():
    """What the studio's server logs at ERROR (an exception in a request is logged there)."""
    records = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def run_urls(name: str) -> list[str]:
    at = quote(name)
    return [f"runs/{at}", f"api/runs/{at}", f"runs/{at}?part=films", f"runs/{at}/compose",
            f"files/runs/{at}/snapshots/6.png", f"files/runs/{at}/picture/loss.png", f"files/runs/{at}/samples/3.png",
            f"compare?run={at}"]


def test_an_empty_workspace_or_one_with_only_data_shows_an_empty_gallery(tmp_path, studio_of):
    empty, data_only = tmp_path / "empty", tmp_path / "data-only"
    empty.mkdir()
    build_dataset(tiny_recipe(data_only), data_only)
    for root in (empty, data_only):
        served = studio_of(root)
        assert "No runs in this workspace yet" in httpx.get(served.url).text
        assert httpx.get(served.url + "api/runs").json() == []
        assert httpx.get(served.url + "runs/tiny").status_code == 404
        assert httpx.get(served.url + "compare?sweep=tiny").status_code == 404


def test_a_run_folder_deleted_while_shown_is_a_404_not_a_traceback(tmp_path, trained, studio_of, server_errors):
    shutil.copytree(trained, tmp_path / "runs" / "doomed")
    served = studio_of(tmp_path)
    assert httpx.get(served.url + "runs/doomed").status_code == 200
    shutil.rmtree(tmp_path / "runs" / "doomed")
    for url in run_urls("doomed"):
        assert httpx.get(served.url + url).status_code == 404, url
    assert httpx.post(served.url + "api/runs/doomed/compose", json={"seeds": [1, 2]}).status_code == 404
    assert httpx.get(served.url + "api/runs").json() == []
    assert server_errors == []


def test_a_metrics_file_of_200000_lines_is_thinned_for_the_charts(tmp_path, trained, studio_of):
    run = tmp_path / "runs" / "long"
    shutil.copytree(trained, run)
    rows = [{"step": step, "loss_d": step % 2, "loss_g": 2.0} for step in range(1, 200_001)]
    rows[7]["loss_g"] = float("nan")  # a diverging step: json writes NaN, which a browser's JSON cannot read
    snapshot = json.dumps({"step": 150_000, "event": "snapshot", "diversity": 0.9})
    lines = [json.dumps(row) for row in rows]
    (run / "metrics.jsonl").write_text("\n".join(lines[:150_000] + [snapshot] + lines[150_000:]) + '\n{"step": 200001, "lo')
    served = studio_of(tmp_path)
    page = httpx.get(served.url + "api/runs/long", timeout=30).json()
    losses = [row for row in page["metrics"] if "event" not in row]
    assert POINTS // 2 < len(losses) <= POINTS
    assert (losses[0]["step"], losses[-1]["step"]) == (100, 200_000)  # each row: the mean of 100 steps
    assert {row["loss_d"] for row in losses} == {0.5} and {row["loss_g"] for row in losses} == {2.0}
    assert page["best_step"] == 150_000 and page["summary"]["step"] == 200_000
    with open(run / "metrics.jsonl", "a") as metrics:  # the cut line ends, then training goes on
        metrics.write('ss_d": 1, "loss_g": 1}\n' + "".join(json.dumps({"step": s, "loss_d": 1}) + "\n"
                                                          for s in range(200_002, 200_101)))
    grown = [row for row in httpx.get(served.url + "api/runs/long").json()["metrics"] if "event" not in row]
    assert grown[-1]["step"] == 200_100
    (run / "metrics.jsonl").write_text("\n".join(lines[:10]) + "\n")  # rewritten shorter: a resume forgot steps
    assert [row["step"] for row in httpx.get(served.url + "api/runs/long").json()["metrics"]] == list(range(1, 11))


def test_a_run_of_thousands_of_snapshots_sends_about_points_of_their_lines(tmp_path, trained, studio_of):
    """A live page asks for its run again at each snapshot: 5,000 snapshots' lines, whole, were
    most of 629 kB a second; the chart of their diversity is thinned as the losses are."""
    run = tmp_path / "runs" / "long"
    shutil.copytree(trained, run)
    shots = [{"step": step, "event": "snapshot", "diversity": 0.5 + step % 7 / 100} for step in range(0, 5000)]
    shots[4321]["diversity"] = 0.99  # the most varied, which the page marks
    rollback = {"step": 2500, "event": "rollback", "reason": "loss_d is nan"}
    lines = [json.dumps(row) for row in shots[:2500] + [rollback] + shots[2500:]]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    page = httpx.get(studio_of(tmp_path).url + "api/runs/long", timeout=30).json()
    sent = [row for row in page["metrics"] if row.get("event") == "snapshot"]
    assert POINTS // 2 < len(sent) <= POINTS + 1
    assert page["best_step"] == 4321 and {"step": 4321, "event": "snapshot", "diversity": 0.99} in sent
    assert rollback in page["metrics"]  # other events are all sent
    assert [row["step"] for row in sent] == sorted(row["step"] for row in sent)


def wait_for(served, job: int, *states: str) -> dict:
    deadline = time.monotonic() + 120
    while (answer := httpx.get(f"{served.url}api/jobs/{job}").json())["state"] not in states:
        assert time.monotonic() < deadline, answer
        time.sleep(0.1)
    return answer


def test_renders_asked_for_together_queue_and_each_writes_a_whole_film(tmp_path, trained, studio_of):
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(trained, run)
    served = studio_of(tmp_path)
    # the first film long enough (80 frames) to be rendering still when the second is asked for:
    # 4 frames could be done by then on a fast machine, and nothing would wait
    films = [{"seeds": [1, 2], "seconds": seconds, "fps": 8, "size": 64} for seconds in (10, 0.5)]
    first, second = (httpx.post(served.url + "api/runs/tiny/compose", json=film).json() for film in films)
    assert (first["ahead"], second["ahead"], second["state"]) == (0, 1, "queued")
    for job, count in ((first, 80), (second, 4)):
        done = wait_for(served, job["id"], "done", "failed")
        assert done["state"] == "done", done
        meta, frames = read_film(run / done["films"][0])
        assert frames.shape == (count, 64, 64, 3)
    assert not [path.name for path in run.iterdir() if path.name.startswith(".")]  # no temporary file left


def test_a_render_can_be_cancelled_and_the_queue_has_an_end(tmp_path, trained, studio_of):
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(trained, run)
    served = studio_of(tmp_path)
    long = {"seeds": [1, 2], "seconds": 600, "fps": 30, "size": 64}  # 64 px encodes fast: long enough to outlast a cancel
    jobs = [httpx.post(served.url + "api/runs/tiny/compose", json=long).json() for _ in range(4)]
    refused = httpx.post(served.url + "api/runs/tiny/compose", json=long)
    assert refused.status_code == 400 and "3 films are waiting to render already" in refused.json()["error"]
    cancel = lambda job: httpx.post(f"{served.url}api/jobs/{job['id']}/cancel", json={}).json()
    assert [cancel(job)["state"] for job in jobs[1:]] == ["cancelled"] * 3  # waiting: cancelled at once
    deadline = time.monotonic() + 60
    while httpx.get(f"{served.url}api/jobs/{jobs[0]['id']}").json()["done"] < 10:  # rendering now
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancel(jobs[0])
    assert wait_for(served, jobs[0]["id"], "cancelled", "done", "failed")["state"] == "cancelled"
    assert sorted(path.name for path in run.iterdir() if path.is_file()) == ["metrics.jsonl", "recipe.lock.toml",
                                                                              "status.json"]
    assert httpx.post(f"{served.url}api/jobs/{jobs[0]['id']}/cancel", data={}).status_code == 415  # no form from elsewhere


def test_stopping_the_studio_stops_its_render(tmp_path, trained, capfd):
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(trained, run)
    served = start(tmp_path)
    job = httpx.post(served.url + "api/runs/tiny/compose", json={"seeds": [1, 2], "seconds": 600, "size": 64}).json()
    deadline = time.monotonic() + 60
    while httpx.get(f"{served.url}api/jobs/{job['id']}").json()["done"] < 10:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    served.stop()  # as Ctrl-C does
    deadline = time.monotonic() + 5
    while any(thread.name.startswith("render") for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "the render goes on after the studio stopped"
        time.sleep(0.1)
    assert not [path.name for path in run.iterdir() if "composed" in path.name]
    assert "Traceback" not in capfd.readouterr().err  # cancelled, not stopped by an error


def test_a_run_named_with_spaces_and_accents_is_served(tmp_path, trained, studio_of):
    name = "mon run d'été 🎨"
    shutil.copytree(trained, tmp_path / "runs" / name)
    (tmp_path / "runs" / name / "loss.png").write_bytes((trained / "snapshots" / "step-0000006.png").read_bytes())
    served = studio_of(tmp_path)
    assert [run["name"] for run in httpx.get(served.url + "api/runs").json()] == [name]
    assert f'href="/runs/{quote(name)}"' in httpx.get(served.url).text
    for url in run_urls(name):
        assert httpx.get(served.url + url).status_code == 200, url
