"""The studio against runs edited by hand or cut short in ways no training writes, requests no
page of its own sends, other sites' pages, and a stop or a runs/ folder made anew while pages are
open: each answered with what reads and a one-line status, never a 500 or a traceback."""
import json
import shutil
import sys
import threading

import httpx
import pytest
import tomli_w
from studio_helpers import event_lines, train_run

from artgan.studio import start
from artgan.studio.composer import KEPT, Composer, Job
from test_studio_edges import server_errors, studio_of  # noqa: F401  (fixtures)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real tiny training (6 steps, checkpoints at 3 and 6), to copy into workspaces."""
    return train_run(tmp_path_factory.mktemp("trained"), "tiny")


def appended(line: str):
    return lambda run: open(run / "metrics.jsonl", "a").write(line + "\n")


def status(text: str):
    return lambda run: (run / "status.json").write_text(text)


def locked(change):
    """An edit of the run's recipe.lock.toml: ``change`` alters its tables in place."""
    def edit(run):
        tables = tomllib.loads((run / "recipe.lock.toml").read_text())
        change(tables)
        (run / "recipe.lock.toml").write_text(tomli_w.dumps(tables))
    return edit


TAMPERED = {
    "metrics: step as text": appended('{"step": "40", "loss_d": 1.0}'),
    "metrics: step null": appended('{"step": null, "loss_d": 1.0}'),
    "metrics: step beyond 8 bytes": appended('{"step": 99999999999999999999999, "loss_d": 1.0}'),
    "metrics: speed as text": appended('{"step": 6, "images_per_s": "fast"}'),
    "metrics: a loss too large for a float": appended('{"step": 6, "loss_d": 1e400, "loss_g": 99999999999999999999999}'),
    "metrics: an event's diversity NaN": appended('{"step": 6, "event": "snapshot", "diversity": NaN}'),
    "metrics: an event without a step, its diversity text": appended('{"event": "snapshot", "diversity": "high"}'),
    "status: step as text": status('{"state": "finished", "step": "thirty", "total_steps": 6}'),
    "status: speed NaN": status('{"state": "training", "step": 6, "images_per_s": NaN}'),
    "status: a list": status("[1, 2]"),
    "lock: steps as text": locked(lambda t: t["train"].update(steps="many")),
    "lock: [train] not a table": locked(lambda t: t.update(train="x")),
    "lock: [model] not a table": locked(lambda t: t.update(model=3)),
    "lock: dataset a number": locked(lambda t: t["lock"].update(dataset=5)),
    "lock: resolution as text": locked(lambda t: t.update(resolution="big")),
}


@pytest.mark.parametrize("tamper", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_run_edited_by_hand_shows_what_reads_and_spares_the_others(tmp_path, trained, studio_of, server_errors,
                                                                     tamper):
    for name in ("good", "edited"):
        shutil.copytree(trained, tmp_path / "runs" / name)
    tamper(tmp_path / "runs" / "edited")
    served = studio_of(tmp_path)
    cards = {run["name"]: run for run in httpx.get(served.url + "api/runs").json()}
    assert sorted(cards) == ["edited", "good"]
    assert cards["good"]["step"] == 6 and cards["edited"]["newest_snapshot"] == 6
    gallery = httpx.get(served.url).text
    assert 'href="/runs/good"' in gallery and 'href="/runs/edited"' in gallery
    page = httpx.get(served.url + "api/runs/edited")
    assert page.status_code == 200 and page.json()["snapshots"] == [0, 2, 4, 6]
    assert [row["step"] for row in page.json()["metrics"] if "event" not in row][:6] == [1, 2, 3, 4, 5, 6]
    assert httpx.get(served.url + "runs/edited").status_code == 200
    assert server_errors == []


def test_a_bad_metrics_line_is_left_out_once_not_read_again_and_again(tmp_path, trained, studio_of):
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(trained, run)
    with open(run / "metrics.jsonl", "a") as metrics:
        metrics.write('{"step": null, "loss_d": 1}\n{"step": 7, "loss_d": 0.5}\n')
    served = studio_of(tmp_path)
    for _ in range(3):  # each answer the same: the rows before the bad line were not added again
        steps = [row["step"] for row in httpx.get(served.url + "api/runs/tiny").json()["metrics"] if "event" not in row]
        assert steps == [1, 2, 3, 4, 5, 6, 7]


def test_requests_no_page_sends_get_a_one_line_answer(tmp_path, trained, studio_of, server_errors):
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(trained, run)
    served = studio_of(tmp_path)
    command, sample = served.url + "api/runs/tiny/command", served.url + "files/runs/tiny/samples/"
    for step in ("Infinity", "-Infinity", "1e400", "30.9", "true", '"3x"'):
        sent = httpx.post(command, content=f'{{"seeds": [1, 2], "step": {step}}}',
                          headers={"Content-Type": "application/json"})
        assert (sent.status_code, sent.text) == (400, "step must be a whole number"), step
    nested = httpx.post(command, content="[" * 10_000 + "]" * 10_000, headers={"Content-Type": "application/json"})
    assert (nested.status_code, nested.text) == (400, "not JSON")
    huge = httpx.post(command, json={"seeds": [1, 2], "note": "x" * 200_000})
    assert huge.status_code == 413 and "kB" in huge.text
    for film in ({"seeds": [1, 2], "seconds": 1e308}, {"seeds": list(range(2000))}):
        refused = httpx.post(served.url + "api/runs/tiny/compose", json=film)
        assert refused.status_code == 400 and refused.json()["error"].startswith("--seconds" if "seconds" in film
                                                                                 else "--seeds")
    for seed in (2**64, -2**63 - 1, "x"):
        assert httpx.get(f"{sample}{seed}.png").status_code == 400
    assert httpx.get(f"{sample}{2**64 - 1}.png").status_code == 200
    newest = run / "checkpoints" / "step-0000006.pt"
    newest.write_bytes(newest.read_bytes()[:20_000])  # cut short, as a full disk leaves it
    cut = httpx.get(f"{sample}3.png")
    assert cut.status_code == 400 and "step-0000006.pt" in cut.text
    assert server_errors == []


def test_pages_of_other_sites_cannot_use_the_studio_or_frame_it(tmp_path, trained, studio_of):
    shutil.copytree(trained, tmp_path / "runs" / "tiny")
    served = studio_of(tmp_path)
    sample = served.url + "files/runs/tiny/samples/3.png"
    elsewhere = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    assert httpx.get(sample, headers=elsewhere).status_code == 403  # an <img> on another site's page
    assert httpx.get(served.url + "api/runs", headers={**elsewhere, "Sec-Fetch-Mode": "cors"}).status_code == 403
    link = httpx.get(served.url, headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
    assert link.status_code == 200  # a person following a link to the studio
    own = httpx.get(sample, headers={"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "no-cors"})
    assert own.status_code == 200
    other_port = {**elsewhere, "Sec-Fetch-Site": "same-site"}  # a notebook's page on localhost:8888
    assert httpx.get(sample, headers=other_port).status_code == 403
    command = served.url + "api/runs/tiny/command"
    origin = served.url.rstrip("/")
    for page in (origin.rsplit(":", 1)[0] + ":8888", "null"):  # a browser without Sec-Fetch-Site names it in Origin
        refused = httpx.post(command, json={"seeds": [3, 17], "seconds": 2}, headers={"Origin": page})
        assert refused.status_code == 403 and "ports" in refused.text
    assert httpx.post(command, json={"seeds": [3, 17], "seconds": 2},
                      headers={"Origin": origin}).status_code == 200
    assert (link.headers["x-frame-options"], link.headers["content-security-policy"]) == ("DENY", "frame-ancestors 'none'")


def test_a_studio_on_another_loopback_address_answers_at_the_address_it_gives(tmp_path, trained):
    shutil.copytree(trained, tmp_path / "runs" / "tiny")
    served = start(tmp_path, host="127.0.0.2")
    try:
        assert served.token is None and served.url.startswith("http://127.0.0.2:")
        assert "tiny" in httpx.get(served.url).text
    finally:
        served.stop()


def test_stopping_the_studio_ends_open_pages_streams_quietly(tmp_path, trained, server_errors):
    shutil.copytree(trained, tmp_path / "runs" / "tiny")
    served = start(tmp_path)
    with event_lines(served) as lines:
        stopping = threading.Thread(target=served.stop)
        stopping.start()
        assert "".join(lines) == ""  # the stream ends (no event), not cut off with an error
    stopping.join()
    assert server_errors == []  # uvicorn logs "Cancel … running task(s)" at ERROR when a response never ends


def test_live_events_go_on_when_runs_is_deleted_and_made_again(tmp_path, trained, studio_of):
    shutil.copytree(trained, tmp_path / "runs" / "first")
    served = studio_of(tmp_path)
    with event_lines(served, timeout=20) as lines:
        shutil.rmtree(tmp_path / "runs")
        (tmp_path / "runs").mkdir()
        shutil.copytree(trained, tmp_path / "runs" / "again")
        events = (json.loads(line[5:]) for line in lines if line.startswith("data:"))
        assert next(event for event in events if event.get("run") == "again")["kind"] == "state"
    assert [run["name"] for run in httpx.get(served.url + "api/runs").json()] == ["again"]


def test_the_composer_remembers_the_last_ended_jobs_not_all(tmp_path, trained):
    run = shutil.copytree(trained, tmp_path / "runs" / "tiny")
    composer = Composer(lambda event: None)
    for number in range(1000, 1000 + 2 * KEPT):  # films made before
        composer.jobs[number] = Job(number, "tiny", run / "x.mp4", "artgan render …", state="done")
    try:
        job = composer.submit("tiny", run, run / "checkpoints" / "step-0000006.pt",
                              {"seeds": [1, 2], "seconds": 0.1, "size": 16}, tmp_path)
    finally:
        composer.close()
    assert len(composer.jobs) == KEPT and job.id in composer.jobs and 1000 not in composer.jobs
    assert max(composer.jobs) == 1000 + 2 * KEPT - 1  # the newest ended ones are kept
