"""The studio in a real browser (Debian's chromium, headless, driven by Playwright): the gallery,
a training in another process showing up live, the scrubber, a live run page's charts, the film
composer, compare, and pages open when the studio stops."""
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from studio_helpers import CHROMIUM, WITHOUT_SHARED_WORKER, chromium, studio, workspace  # noqa: F401  (fixtures)

from artgan.film import write_film
from artgan.runfolder import RunFolder
from artgan.studio import start

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    ci = os.environ.get("CI") == "true"  # CI installs both (.ci/run, the dev extra): missing there is a failure
    if not CHROMIUM.exists():
        if ci:
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); the studio's browser tests need it")
    if not ci:
        pytest.importorskip("playwright", reason="pip install -e '.[dev]' installs Playwright")
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    opened = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    opened.on("pageerror", lambda error: errors.append(error))
    yield opened
    opened.close()
    assert not errors, errors  # no script error on any page


def enlarged_pixel_sharp(img) -> float:
    """How many times ``img`` (a locator) is shown larger than its file, once it is pixel-sharp."""
    img.wait_for()
    img.page.wait_for_function("i => i.complete && getComputedStyle(i).imageRendering === 'pixelated'",
                               arg=img.element_handle())
    return img.evaluate("i => i.getBoundingClientRect().width / i.naturalWidth")


def test_the_gallery_lists_the_runs_of_the_workspace(studio, page):
    page.goto(studio.url)
    names = page.locator(".card h3 a").all_inner_texts()
    assert sorted(names) == ["broken", "old", "tiny-a", "tiny-b"]
    assert page.locator(".group h2").first.inner_text().startswith("sweep tiny")
    card = page.locator('.card[data-run="tiny-a"]')
    assert "finished" in card.inner_text() and "step 6 / 6" in card.inner_text()
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth") == 64  # a 2x2 grid of 32 px
    assert enlarged_pixel_sharp(card.locator("img")) > 2


def test_a_training_in_another_process_appears_and_its_snapshot_changes_without_a_reload(tmp_path, browser):
    (tmp_path / "live.toml").write_text(textwrap.dedent("""
        name = "live"
        resolution = 32
        [[source]]
        use = "shapes"
        count = 16
        [model]
        use = "dcgan"
        g_width = 8
        d_width = 8
        z_dim = 16
        [train]
        steps = 100000
        batch_size = 8
        snapshot_every = 15
        checkpoint_every = 1000
        grid = 2
        """))
    served = start(tmp_path)
    page = browser.new_page()
    training = None
    try:
        page.goto(served.url)
        assert page.locator(".card").count() == 0
        page.evaluate("window.notReloaded = true")
        training = subprocess.Popen([sys.executable, "-m", "artgan", "-q", "run", "live.toml"], cwd=tmp_path,
                                    env={**os.environ, "OMP_NUM_THREADS": "1"},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        page.locator('.card[data-run="live"] img').wait_for(timeout=60_000)  # pushed: no reload
        assert page.evaluate("window.notReloaded") is True
        box = '.card[data-run="live"] input[type=checkbox]'
        page.check(box)
        steps = page.inner_text('.card[data-run="live"] .steps')
        page.wait_for_function("""was => document.querySelector('.card[data-run="live"] .steps').innerText !== was""",
                               arg=steps, timeout=30_000)  # the card was replaced by a newer one…
        assert page.is_checked(box)  # …and the box ticked for compare stayed ticked
        page.click('.card[data-run="live"] h3 a')
        page.wait_for_selector("#shot[src]")
        first = page.get_attribute("#shot", "src")
        page.evaluate("window.notReloaded = true")
        page.wait_for_function("src => document.querySelector('#shot').src.split(location.host)[1] !== src",
                               arg=first, timeout=30_000)
        assert page.evaluate("window.notReloaded") is True
        page.wait_for_function("document.querySelector('#shot').complete && document.querySelector('#shot').naturalWidth")
        later = int(page.get_attribute("#shot", "src").rsplit("/", 1)[1].removesuffix(".png"))
        assert later > int(first.rsplit("/", 1)[1].removesuffix(".png"))
        assert page.inner_text("#state") == "training"
    finally:
        if training is not None:
            training.send_signal(signal.SIGTERM)  # it saves a checkpoint and stops
            assert training.wait(60) == 143, training.stderr.read().decode()
        page.close()
        served.stop()


def test_the_scrubber_shows_a_chosen_step(studio, page):
    page.goto(studio.url + "runs/tiny-a")
    assert page.inner_text("#shown-step") == "step 6"
    assert enlarged_pixel_sharp(page.locator("#shot")) >= 8  # 64 px of snapshot on 512 px and more of screen
    plot = page.locator('#films img[alt="loss.png"]')  # 1000 px shrunk to the column: smoothed, not aliased
    page.wait_for_function("i => i.complete && i.naturalWidth > i.getBoundingClientRect().width", arg=plot.element_handle())
    assert plot.evaluate("i => getComputedStyle(i).imageRendering") == "auto"
    page.focus("#scrub")
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")  # the second snapshot: step 2
    assert page.inner_text("#shown-step") == "step 2"
    assert page.get_attribute("#shot", "src").endswith("/snapshots/2.png")
    page.wait_for_function("document.querySelector('#shot').complete && document.querySelector('#shot').naturalWidth > 0")
    assert page.is_checked("#follow") is False  # looking back stops following the newest
    assert page.locator(".chart").count() >= 3  # losses, diversity, speed
    assert page.is_visible("#best") and page.is_visible("#best-mark")
    page.click("#best-step")  # the most varied snapshot, shown
    assert page.inner_text("#shown-step") == f"step {page.inner_text('#best-step')}"


def test_a_composed_film_renders_and_plays(studio, page):
    page.goto(studio.url + "runs/tiny-a/compose")
    assert enlarged_pixel_sharp(page.locator('#samples img[data-seed="2"]')) > 2
    page.click('#samples img[data-seed="2"]')
    page.click('#samples img[data-seed="5"]')
    page.fill('input[name="seconds"]', "1")
    page.select_option('select[name="size"]', "256")
    page.dispatch_event("#film-form", "change")
    page.wait_for_function("document.querySelector('#command').textContent.includes('--seeds 2,5')")
    assert "artgan render interpolation runs/tiny-a/checkpoints/step-0000006.pt" in page.inner_text("#command")
    page.click("#render")
    video = page.locator('#films video[src*="composed-"]')
    video.wait_for(timeout=60_000)
    duration = video.evaluate("""v => new Promise((ok, fail) => {
        if (v.readyState >= 1) ok(v.duration);
        v.onloadedmetadata = () => ok(v.duration); v.onerror = () => fail(v.error && v.error.code); })""")
    assert 0.9 <= duration <= 1.5
    played = video.evaluate("""v => new Promise(ok => { v.currentTime = 0;
        v.play().then(() => setTimeout(() => ok(v.currentTime), 600), e => ok(-1)); })""")
    assert played > 0.1
    assert page.locator("#progress").evaluate("p => p.value === p.max && p.max > 1")


def test_a_second_render_says_it_waits_and_can_be_cancelled(studio, page):
    page.goto(studio.url + "runs/tiny-a/compose")
    page.click('#samples img[data-seed="1"]')
    page.click('#samples img[data-seed="2"]')
    page.fill('input[name="seconds"]', "60")
    try:
        page.click("#render")
        page.wait_for_function("document.querySelector('#job-state').textContent === 'rendering'")
        page.click("#render")
        page.wait_for_function("document.querySelector('#job-state').textContent.startsWith('queued: 1 film to')")
        page.click("#cancel")
        page.wait_for_function("document.querySelector('#job-state').textContent.startsWith('cancelled')")
        assert page.is_hidden("#cancel")
    finally:  # the first film too: 60 s at 512 px is long for the tests after
        for job in range(1, 10):  # ids are counted from 1; a finished or unknown one is left as it is
            httpx.post(f"{studio.url}api/jobs/{job}/cancel", json={})


def test_compare_shows_two_runs_at_one_step(studio, page):
    page.goto(studio.url + "compare?sweep=tiny")
    shown = lambda: {fig.get_attribute("data-run"): fig.locator("img").get_attribute("src").rsplit("/", 1)[1]
                     for fig in page.locator(".compare figure").all()}
    assert page.inner_text("#shown-step") == "6" and shown() == {"tiny-a": "6.png", "tiny-b": "6.png"}
    assert enlarged_pixel_sharp(page.locator(".compare img").first) > 2
    page.focus("#scrub")
    page.keyboard.press("ArrowLeft")  # steps of both runs: 0 2 3 4 6
    assert page.inner_text("#shown-step") == "4"
    assert shown() == {"tiny-a": "4.png", "tiny-b": "3.png"}  # tiny-b's newest snapshot up to step 4
    assert "(step 3)" in page.inner_text('.compare figure[data-run="tiny-b"]')


def test_a_film_of_720_lines_or_more_keeps_its_colours_in_the_browser(tmp_path, workspace, page):
    """Untagged, Chromium took such a film for BT.709 and showed green 255 as 217; its colour tags
    say what artgan encoded, so the frame's colours come back within a few levels."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (224, 172, 105), (90, 140, 200)]
    frame = np.zeros((768, 64 * len(colours), 3), np.uint8)
    for i, colour in enumerate(colours):
        frame[:, 64 * i:64 * (i + 1)] = colour
    shutil.copytree(workspace / "runs" / "tiny-b", tmp_path / "runs" / "patches")
    write_film([frame] * 3, tmp_path / "runs" / "patches" / "patches.mp4", fps=10)
    served = start(tmp_path)
    try:
        page.goto(served.url + "runs/patches")
        shown = page.evaluate("""url => new Promise((ok, fail) => {
            const v = document.createElement('video'); v.muted = true; v.src = url;
            v.onerror = () => fail(v.error && v.error.code);
            v.onloadeddata = () => { v.currentTime = 0.05; };
            v.onseeked = () => { const c = document.createElement('canvas');
                c.width = v.videoWidth; c.height = v.videoHeight;
                const g = c.getContext('2d'); g.drawImage(v, 0, 0);
                ok(Array.from({length: c.width / 64}, (_, i) =>
                    Array.from(g.getImageData(64 * i + 32, 384, 1, 1).data.slice(0, 3)))); }; })""",
                              served.url + "files/runs/patches/film/patches.mp4")
    finally:
        served.stop()
    assert np.abs(np.array(shown) - np.array(colours)).max() <= 4, shown


def test_a_run_deleted_while_its_page_is_open_says_so(tmp_path, workspace, page):
    shutil.copytree(workspace / "runs" / "tiny-b", tmp_path / "runs" / "doomed")
    served = start(tmp_path)
    try:
        page.goto(served.url + "runs/doomed")
        assert page.is_hidden("#gone")
        shutil.rmtree(tmp_path / "runs" / "doomed")
        page.wait_for_selector("#gone", state="visible", timeout=10_000)
        assert page.inner_text("#state") == "deleted"
    finally:
        served.stop()


@pytest.mark.parametrize("alone", [False, True], ids=["one stream shared", "without SharedWorker"])
def test_pages_open_when_the_studio_stops_say_so_and_catch_up_when_it_is_back(tmp_path, workspace, browser, alone):
    shutil.copytree(workspace / "runs" / "tiny-b", tmp_path / "runs" / "kept")
    served = start(tmp_path)
    port = urlsplit(served.url).port
    context = browser.new_context()
    if alone:
        context.add_init_script(WITHOUT_SHARED_WORKER)  # a stream per page
    page, compare = context.new_page(), context.new_page()
    errors = []
    for shown in (page, compare):
        shown.on("pageerror", lambda error: errors.append(error))
    try:
        page.goto(served.url + "runs/kept")
        compare.goto(served.url + "compare?run=kept")
        assert page.is_hidden("#offline") and page.get_attribute("body", "data-shown-step") == "6"
    finally:
        served.stop()  # Ctrl-C in the terminal of `artgan studio`
    try:
        for shown in (page, compare):
            shown.wait_for_selector("#offline", state="visible", timeout=10_000)
        snapshots = tmp_path / "runs" / "kept" / "snapshots"
        shutil.copy(snapshots / "step-0000006.png", snapshots / "step-0000009.png")  # written while it was away
        served = start(tmp_path, port=port)
        assert urlsplit(served.url).port == port  # its connections' TIME_WAIT does not move it
        for shown in (page, compare):
            shown.wait_for_selector("#offline", state="hidden", timeout=15_000)
        page.wait_for_function("document.body.dataset.shownStep === '9'", timeout=15_000)  # following the newest
        compare.wait_for_function("Number(document.querySelector('#scrub').max) === 3", timeout=15_000)  # 0 3 6 9
        assert page.inner_text("#state") != "deleted" and not errors, errors
    finally:
        context.close()
        served.stop()


def metrics_lines(steps, shift: float = 0.0) -> str:
    """metrics.jsonl lines of ``steps`` (a loss row each, and a snapshot's line every 100 steps)
    whose curves ``shift`` moves. An odd step's loss_d is higher by 1: a thinned row of one odd
    step (a last one, which rows to come complete) stands out from the mean of two."""
    lines = []
    for step in steps:
        lines.append({"step": step, "loss_d": 1 + math.sin(step / 300) + step % 2 + shift,
                      "loss_g": 2 + math.cos(step / 500), "images_per_s": 500 + step % 97})
        if step % 100 == 0:
            lines.append({"step": step, "event": "snapshot", "diversity": 0.5 + shift + (step * 37 % 101) / 200})
    return "".join(json.dumps(line) + "\n" for line in lines)


def charts_drawn(page, step: int, charts: int = 3) -> dict[str, str]:
    """Each chart of a run's page (its picture, as PNG data, by title) once it shows ``step`` and
    its ``charts`` charts (a page opened now shows the step before its charts load)."""
    page.wait_for_function(f"document.querySelector('#step').textContent === '{step}' && "
                           f"document.querySelectorAll('.chart canvas').length === {charts}", timeout=10_000)
    return page.evaluate("Object.fromEntries([...document.querySelectorAll('.chart')].map("
                         "chart => [chart.dataset.chart, chart.querySelector('canvas').toDataURL()]))")


def test_a_live_run_page_asks_only_for_what_is_new_and_draws_what_a_page_opened_anew_draws(tmp_path, workspace,
                                                                                         browser, page):
    """As the run trains on, the page is sent the thinned rows from its last one on, not the run;
    when a thinned row comes to stand for more rows, or a resume forgets lines, all again."""
    run = tmp_path / "runs" / "long"
    shutil.copytree(workspace / "runs" / "tiny-b", run)
    (run / "metrics.jsonl").write_text(metrics_lines(range(1, 3002)))  # thinned by 2: 1,501 rows
    served = start(tmp_path)
    answers = []
    page.on("response", lambda response: answers.append(response) if "/live?" in response.url else None)
    fresh = browser.new_page()

    def trained(lines: str, step: int) -> list[dict]:
        """Lines appended as training writes them: the page, as one opened now; what it was sent."""
        asked = len(answers)
        with open(run / "metrics.jsonl", "a") as metrics:
            metrics.write(lines)
        live = charts_drawn(page, step)
        fresh.goto(served.url + "runs/long")
        assert live == charts_drawn(fresh, step)  # losses, diversity, images/s
        return [answer.json()["metrics"] for answer in answers[asked:]]

    try:
        page.goto(served.url + "runs/long")
        charts_drawn(page, 3001)
        sent = trained(metrics_lines(range(3002, 3301)), 3300)  # still by 2
        assert sent and all(not got["reset"] and got["start"] >= 1500 for got in sent)
        assert sum(len(got["rows"]) for got in sent) < 200  # of 1,650
        sent = trained(metrics_lines(range(3301, 4501)), 4500)  # 4,500 rows: by 5 from now on
        assert any(got["reset"] for got in sent)
        RunFolder(run).trim_metrics(2000)  # a resume from step 2000 forgets the lines after…
        sent = trained(metrics_lines(range(2001, 2201), shift=0.5), 2200)  # …and trains on, otherwise
        assert any(got["reset"] for got in sent)
    finally:
        fresh.close()
        served.stop()


def test_the_composer_of_a_run_deleted_meanwhile_says_so(tmp_path, workspace, page):
    shutil.copytree(workspace / "runs" / "tiny-a", tmp_path / "runs" / "doomed")
    served = start(tmp_path)
    try:
        page.goto(served.url + "runs/doomed/compose")
        page.click('#samples img[data-seed="1"]')
        page.click('#samples img[data-seed="2"]')
        page.wait_for_function("document.querySelector('#command').textContent.includes('--seeds 1,2')")
        shutil.rmtree(tmp_path / "runs" / "doomed")
        page.fill('input[name="seconds"]', "2")
        page.dispatch_event("#film-form", "change")
        page.wait_for_selector("#error", state="visible", timeout=10_000)
        assert "404" in page.inner_text("#error")
        page.evaluate("document.querySelector('#error').textContent = ''")
        page.click("#render")  # the render is refused the same way, not with a script error
        page.wait_for_function("document.querySelector('#error').textContent.includes('404')")
    finally:
        served.stop()
