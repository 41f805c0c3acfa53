"""Open the report in headless Chromium: it renders with no console errors and no broken image."""

import shutil

import pytest

from nndl.experiments import run_experiment
from nndl.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
def test_report_renders_in_chromium(tmp_path):
    if CHROMIUM is None:
        pytest.fail(
            "Debian's chromium is needed for this test: apt-get install chromium (.ci/run does)"
        )
    from playwright.sync_api import sync_playwright

    results = [run_experiment("g3_product_of_factors", scale="tiny", out=tmp_path)]
    index = build_report(tmp_path, results)
    errors: list[str] = []
    failed_requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: failed_requests.append(r.url))
        page.goto(index.as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
        )
        title = page.title()
        browser.close()
    assert title.startswith("nndl report")
    assert errors == [] and failed_requests == []
    assert images and all(width > 0 for _, _, width in images), images
