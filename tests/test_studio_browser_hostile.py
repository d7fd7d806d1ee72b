"""A hurried artist in a real browser (Debian's chromium, headless, driven by Playwright): a double
click on Render, a reload mid-render, the studio restarted under a render, many pages open at once
(sharing one event stream, or without SharedWorker a stream each), the keyboard alone, and what a
screen reader is told."""
import shutil
from urllib.parse import urlsplit

import httpx
import pytest
from studio_helpers import WITHOUT_SHARED_WORKER, open_streams, wait_until, workspace  # noqa: F401  (fixture)
from test_studio_browser import browser, page  # noqa: F401  (fixtures)

from artgan.studio import start

pytestmark = pytest.mark.browser

LONG_FILM = {"seconds": "60", "size": "1024"}  # minutes to render: cancelled by each test


@pytest.fixture
def served(tmp_path, workspace):
    """A studio of its own (its jobs counted from 1) on a copy of the finished run tiny-a, as ``run``."""
    shutil.copytree(workspace / "runs" / "tiny-a", tmp_path / "runs" / "run", symlinks=True)
    studio = start(tmp_path)
    yield studio
    for job in range(1, 5):
        httpx.post(f"{studio.url}api/jobs/{job}/cancel", json={})
    studio.stop()


def compose_long_film(page, url):
    page.goto(url + "runs/run/compose")
    page.click('#samples img[data-seed="1"]')
    page.click('#samples img[data-seed="2"]')
    page.fill('input[name="seconds"]', LONG_FILM["seconds"])
    page.select_option('select[name="size"]', LONG_FILM["size"])
    page.wait_for_function("document.querySelector('#command').textContent.includes('--size 1024')")


def job_state(page) -> str:
    return page.evaluate("document.querySelector('#job-state').textContent")


def test_a_double_click_on_render_renders_one_film_and_cancel_stops_it(served, page):
    compose_long_film(page, served.url)
    page.dblclick("#render")
    page.wait_for_function("document.querySelector('#job-state').textContent === 'rendering'")
    page.wait_for_timeout(300)
    assert httpx.get(served.url + "api/jobs/2").status_code == 404  # no second film behind the first
    page.click("#cancel")
    page.wait_for_function("document.querySelector('#job-state').textContent.startsWith('cancelled')")
    assert httpx.get(served.url + "api/jobs/1").json()["state"] == "cancelled"
    page.click("#render")  # cancel, then render again: a film of its own
    page.wait_for_function("document.querySelector('#job-state').textContent === 'rendering'")
    assert httpx.get(served.url + "api/jobs/2").json()["state"] == "rendering"


def test_a_reloaded_composer_follows_the_render_and_cancels_it(served, page):
    compose_long_film(page, served.url)
    page.click("#render")
    page.wait_for_function("document.querySelector('#job-state').textContent === 'rendering'")
    page.reload()  # or the tab closed and the composer opened again
    page.wait_for_selector("#cancel", state="visible", timeout=5_000)
    assert job_state(page) == "rendering" and page.is_visible("#progress")
    page.click("#cancel")
    page.wait_for_function("document.querySelector('#job-state').textContent.startsWith('cancelled')")
    assert httpx.get(served.url + "api/jobs/1").json()["state"] == "cancelled"


def test_a_render_the_studio_stopped_under_is_said_not_left_rendering(tmp_path, workspace, page):
    shutil.copytree(workspace / "runs" / "tiny-a", tmp_path / "runs" / "run", symlinks=True)
    served = start(tmp_path)
    port = urlsplit(served.url).port
    try:
        compose_long_film(page, served.url)
        page.click("#render")
        page.wait_for_function("document.querySelector('#job-state').textContent === 'rendering'")
    finally:
        served.stop()
    page.wait_for_selector("#offline", state="visible", timeout=10_000)
    served = start(tmp_path, port=port)
    try:
        page.wait_for_function("document.querySelector('#job-state').textContent.includes('studio stopped')",
                               timeout=15_000)
        assert page.is_hidden("#cancel")  # nothing left to cancel: job 1 of the new studio is another film
    finally:
        served.stop()


def new_snapshot(run, step: int) -> None:
    """A snapshot of ``run`` at ``step`` lands, as training writes it (a copy of its step 6)."""
    snapshots = run / "snapshots"
    shutil.copy(snapshots / "step-0000006.png", snapshots / f".step-{step:07d}.png.tmp")
    (snapshots / f".step-{step:07d}.png.tmp").rename(snapshots / f"step-{step:07d}.png")


def shown_step(page, step: int) -> None:
    page.wait_for_function(f"document.body.dataset.shownStep === '{step}'", timeout=10_000)


def test_eight_pages_in_sight_share_one_event_stream(tmp_path, workspace, browser):
    """Chromium keeps at most 6 connections to one server: with a stream per page, the seventh
    page in sight never loaded."""
    shutil.copytree(workspace / "runs" / "tiny-b", tmp_path / "runs" / "run")
    served = start(tmp_path)
    context = browser.new_context()  # a connection pool of its own
    try:
        pages = []
        for _ in range(8):
            pages.append(context.new_page())
            pages[-1].goto(served.url + "runs/run", timeout=10_000)
            pages[-1].wait_for_selector(".chart", timeout=10_000)
        assert {page.evaluate("document.visibilityState") for page in pages} == {"visible"}
        wait_until(lambda: open_streams(served) > 0, "the shared stream")
        assert open_streams(served) == 1
        new_snapshot(tmp_path / "runs" / "run", 9)
        for page in reversed(pages):  # the eighth first
            shown_step(page, 9)
        assert open_streams(served) == 1
    finally:
        context.close()
        served.stop()


def test_a_closed_page_lets_its_share_go_and_the_last_one_closes_the_stream(tmp_path, workspace, browser):
    shutil.copytree(workspace / "runs" / "tiny-b", tmp_path / "runs" / "run")
    served = start(tmp_path)
    context = browser.new_context()
    try:
        gallery, run = context.new_page(), context.new_page()
        gallery.goto(served.url)
        run.goto(served.url + "runs/run")
        run.wait_for_selector(".chart", timeout=10_000)
        wait_until(lambda: open_streams(served) > 0, "the shared stream")
        assert open_streams(served) == 1
        gallery.close()  # the other page still hears of what happens
        new_snapshot(tmp_path / "runs" / "run", 9)
        shown_step(run, 9)
        assert open_streams(served) == 1
        run.close()
        wait_until(lambda: open_streams(served) == 0, "the stream to close with the last page")
    finally:
        context.close()
        served.stop()


HIDE = """hidden => {  // as a tab behind another: the browser says so to the page
    Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
    Object.defineProperty(document, "visibilityState", {value: hidden ? "hidden" : "visible", configurable: true});
    document.dispatchEvent(new Event("visibilitychange")); }"""


def test_without_shared_worker_tabs_out_of_sight_let_the_seventh_load_and_catch_up_when_shown(tmp_path, workspace,
                                                                                             browser):
    shutil.copytree(workspace / "runs" / "tiny-b", tmp_path / "runs" / "run")
    served = start(tmp_path)
    context = browser.new_context()
    context.add_init_script(WITHOUT_SHARED_WORKER)  # each page has a stream of its own
    try:
        tabs = []
        for _ in range(6):
            tabs.append(context.new_page())
            tabs[-1].goto(served.url + "runs/run")
            tabs[-1].evaluate(HIDE, True)
        seventh = context.new_page()
        seventh.goto(served.url + "runs/run", timeout=10_000)
        seventh.wait_for_selector(".chart", timeout=10_000)
        new_snapshot(tmp_path / "runs" / "run", 9)  # while the first is hidden
        shown_step(seventh, 9)
        assert tabs[0].get_attribute("body", "data-shown-step") == "6"
        tabs[0].evaluate(HIDE, False)
        shown_step(tabs[0], 9)
    finally:
        context.close()
        served.stop()


def test_the_composer_works_from_the_keyboard(served, page):
    page.goto(served.url + "runs/run/compose")
    page.focus('#samples button:has(img[data-seed="1"])')
    page.keyboard.press("Enter")
    page.focus('#samples button:has(img[data-seed="4"])')
    page.keyboard.press("Space")
    page.wait_for_function("document.querySelector('#command').textContent.includes('--seeds 1,4')")
    page.focus("#keyframes button >> nth=0")
    page.keyboard.press("Enter")  # seed 1 taken out; the focus stays on the keyframes
    assert page.evaluate("document.activeElement.closest('#keyframes') !== null")
    page.wait_for_function("document.querySelector('#command').textContent.includes('two keyframes')")
    assert [img.get_attribute("data-seed") for img in page.locator("#keyframes img").all()] == ["4"]


def test_a_screen_reader_is_told_steps_seeds_and_controls(served, page):
    page.goto(served.url + "runs/run")
    slider = page.get_by_role("slider", name="snapshot")
    assert slider.get_attribute("aria-valuetext") == "step 6"
    assert page.get_attribute("#shot", "alt") == "snapshot at step 6"
    slider.focus()
    page.keyboard.press("Home")
    assert slider.get_attribute("aria-valuetext") == "step 0"
    assert page.get_attribute("#shot", "alt") == "snapshot at step 0"
    page.get_by_role("button", name="play").click()
    page.get_by_role("button", name="pause").click()  # the flip-book's button says what it does now
    page.goto(served.url + "runs/run/compose")
    assert page.get_by_role("button", name="seed 3").count() == 1
    assert page.get_by_role("progressbar", name="rendering", include_hidden=True).count() == 1


def test_compare_with_no_run_ticked_says_so_on_the_gallery(served, page):
    page.goto(served.url)
    page.click("text=Compare the runs ticked")
    page.wait_for_selector("#compare-none", state="visible", timeout=5_000)
    assert urlsplit(page.url).path == "/"
    page.check('.card[data-run="run"] input[type=checkbox]')
    page.click("text=Compare the runs ticked")
    page.wait_for_url("**/compare?run=run")


def test_a_checkpoint_pruned_while_chosen_gives_way_to_the_newest_and_new_ones_are_listed(served, tmp_path, page):
    """A composer open beside a training: training writes checkpoints and prunes the old ones
    (train.keep_checkpoints), so the list follows, and samples of a pruned one do not break."""
    checkpoints = tmp_path / "runs" / "run" / "checkpoints"
    page.goto(served.url + "runs/run/compose")
    page.select_option("#step", "3")
    page.wait_for_function("document.querySelector('#samples img').src.includes('step=3')")
    shutil.copy(checkpoints / "step-0000006.pt", checkpoints / "step-0000009.pt")  # training went on
    (checkpoints / "step-0000003.pt").unlink()  # and pruned the chosen one
    page.wait_for_function("[...document.querySelectorAll('#step option')].map(o => o.value).join() === '9,6,0'",
                           timeout=10_000)
    assert page.input_value("#step") == "9"
    assert "the checkpoint of step 3 is gone" in page.inner_text("#error")
    assert all("step=9" in src for src in page.eval_on_selector_all("#samples img", "imgs => imgs.map(i => i.src)"))
