"""The studio against hostile requests and broken workspaces: every path-escape attempt gets 404,
a token guards other hosts, loopback refuses other host names (DNS rebinding), and runs made by
older versions or broken still show."""
import subprocess
import sys

import httpx
import pytest
from studio_helpers import raw_get, studio, workspace  # noqa: F401  (fixtures)

from artgan.studio import start


def test_runs_made_by_older_versions_or_broken_still_show(studio):
    broken = httpx.get(studio.url + "api/runs/broken").json()
    assert [row["step"] for row in broken["metrics"]] == [1]  # the half-written line is left out
    assert broken["snapshots"] == [] and httpx.get(studio.url + "runs/broken").status_code == 200
    old = httpx.get(studio.url + "runs/old")
    assert old.status_code == 200 and "older artgan" in old.text


ESCAPES = [
    "/files/runs/../../etc/passwd",
    "/files/runs/%2e%2e/%2e%2e/etc/passwd",
    "/files/runs/tiny-a/film/..%2F..%2F..%2Fetc%2Fpasswd",
    "/files/runs/tiny-a/film/../../../../etc/passwd",
    "/files/runs/tiny-a/film/%2Fetc%2Fpasswd",
    "/files/runs/tiny-a/film//etc/passwd",
    "/files/runs/tiny-a/film/..%5C..%5Crecipe.lock.toml",
    "/files/runs/tiny-a/film/recipe.lock.toml",  # in the run, but not a film the app listed
    "/files/runs/tiny-a/film/checkpoints/step-0000006.pt",
    "/files/runs/tiny-a/film/outside.mp4",  # a film name that is a symlink out of the workspace
    "/files/runs/tiny-a/picture/outside.png",  # a picture that is a symlink out
    "/files/runs/tiny-a/picture/..%2Frecipe.lock.toml",
    "/files/runs/tiny-a/picture/snapshots/step-0000002.png",  # a snapshot, but not by its id
    "/files/runs/tiny-a/snapshots/999.png",  # a snapshot that is a symlink out
    "/files/runs/escape/snapshots/2.png",  # a run folder that is a symlink out
    "/files/runs/escape%2Fsnapshots/snapshots/2.png",
    "/files/runs/%2E%2E%2Fruns%2Ftiny-a/snapshots/2.png",
    "/files/data/..%2Fruns%2Ftiny-a/recipe.lock.toml",
    "/files/data/tiny-a/manifest.jsonl",
    "/files/data/tiny-a/..%2F..%2F..%2Fetc%2Fpasswd",
    "/files/runs/tiny-a/samples/1.png?step=..%2F..%2Fetc",
    "/static/../app.py",
    "/static/%2e%2e/app.py",
    "/static/..%2Fapp.py",
    "/runs/..%2F..%2Fetc",
    "/api/runs/%2e%2e",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_every_path_escape_attempt_gets_404(studio, path):
    assert raw_get(studio.url, path) in (404, 400), path


def test_what_escape_attempts_aim_at_is_served_by_its_own_id(studio):
    """The same files through the ids the app made: the 404s above are the guard, not a dead route."""
    assert raw_get(studio.url, "/files/runs/tiny-a/snapshots/2.png") == 200
    assert raw_get(studio.url, "/files/data/tiny-a/contact-sheet.png") == 200
    assert raw_get(studio.url, "/static/studio.js") == 200


def test_a_loopback_studio_answers_only_loopback_host_names(studio):
    assert raw_get(studio.url, "/", {"Host": "localhost"}) == 200
    assert raw_get(studio.url, "/", {"Host": "attacker.example"}) == 400  # DNS rebinding


def test_the_token_is_required_off_loopback(workspace):
    served = start(workspace, host="0.0.0.0")
    try:
        assert served.token and served.url.endswith(f"?token={served.token}")
        base = served.url.split("?")[0]
        assert httpx.get(base).status_code == 403
        assert httpx.get(base + "files/runs/tiny-a/snapshots/2.png").status_code == 403
        assert httpx.get(base + "?token=wrong").status_code == 403
        with httpx.Client() as browser:
            first = browser.get(served.url)
            assert first.status_code == 200 and "tiny-a" in first.text
            assert browser.get(base + "files/runs/tiny-a/snapshots/2.png").status_code == 200  # the cookie
    finally:
        served.stop()


@pytest.mark.parametrize("given, what", [("nope", "no such folder"), ("a-file", "a file, not a folder")])
def test_a_workspace_that_is_not_a_folder_is_a_one_line_error(tmp_path, given, what):
    (tmp_path / "a-file").write_text("not a workspace")
    done = subprocess.run([sys.executable, "-m", "artgan", "studio", "--workspace", str(tmp_path / given),
                           "--no-browser"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: --workspace {tmp_path / given}: {what}; give the folder "
                                   "that holds runs/ (where you ran `artgan run`)")
