"""The page at ``/`` of ``seqapps serve``, in a real headless browser (Chromium + Playwright).

For each task: load the page, pick the model, submit an input, see the output filled in.
Debian's ``chromium`` is driven by Python Playwright (no browser download: the machine may be
offline). Slow (a browser start and a page per task): they run in ``make test-all``, where CI
installs chromium; locally they skip with the reason when it is missing.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from .conftest import SAMPLES
from .serving import b64, call

CHROMIUM = os.environ.get("SEQAPPS_CHROMIUM", "/usr/bin/chromium")
# The network is closed: nothing may try to reach it (updates, sync, QUIC probes).
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)),
        reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)",
    ),
]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (per xdist worker)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page; a JavaScript error on it fails the test."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(60_000)
    yield page
    context.close()
    assert not errors, errors


def open_model(page, url: str, name: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#model", name)


def run_and_wait(page) -> None:
    page.click("#run")
    page.wait_for_function(
        "document.querySelector('#output').children.length > 0"
        " || !document.querySelector('#error').hidden"
    )
    assert page.is_hidden("#error"), page.inner_text("#error")


@pytest.mark.xdist_group("sentiment")
def test_sentiment_labels_and_probabilities(page, runs, model_servers):
    # Two names for one export: the picker chooses between them.
    url, _ = model_servers.get("sentiment", "sentiment", "tweets")
    open_model(page, url, "tweets")
    page.fill("#text-input", "what a great day :)\nworst service ever")
    run_and_wait(page)
    results = page.locator("#output .result.sentiment")
    assert results.count() == 2
    _, answer = call(f"{url}/v1/models/tweets:predict", {"instances": ["what a great day :)"]})
    first = results.nth(0)
    assert first.locator(".label").inner_text() == answer["predictions"][0]["label"]
    labels = runs.get("sentiment").task.label_names
    assert first.locator(".bar .name").all_inner_texts() == labels
    shown = [float(p) for p in first.locator(".bar .prob").all_inner_texts()]
    assert shown == pytest.approx(answer["predictions"][0]["probabilities"], abs=5e-4)
    assert "tweets version 1" in page.inner_text("#status")


@pytest.mark.xdist_group("ner")
def test_ner_highlights_entities(page, model_servers):
    url, _ = model_servers.get("ner")
    open_model(page, url, "ner")
    sentence = "John Smith lives in New York ."
    page.fill("#text-input", sentence)
    run_and_wait(page)
    _, answer = call(f"{url}/v1/models/ner:predict", {"instances": [sentence]})
    tags = answer["predictions"][0]["tags"]
    shown = page.locator("#output .result.ner .tagged")
    assert shown.count() == 1
    # Every token is on the line, and a tagged token is inside an entity mark.
    text = shown.inner_text()
    assert all(token in text for token in sentence.split())
    marks = page.locator("#output .entity")
    assert (marks.count() > 0) == any(t not in ("O", "") for t in tags)


@pytest.mark.xdist_group("translation")
def test_translation_is_shown(page, model_servers):
    url, _ = model_servers.get("translation")
    open_model(page, url, "translation")
    page.fill("#text-input", "Ein Mann fährt Fahrrad.")
    run_and_wait(page)
    _, answer = call(
        f"{url}/v1/models/translation:predict", {"instances": ["Ein Mann fährt Fahrrad."]}
    )
    assert page.locator("#output .translation").count() == 1
    assert page.inner_text("#output .translation").strip() == answer["predictions"][0].strip()


@pytest.mark.xdist_group("captioning")
def test_captioning_caption_of_an_uploaded_image(page, runs, model_servers):
    url, _ = model_servers.get("captioning")
    image = runs.get("captioning").inputs()[0]
    open_model(page, url, "captioning")
    page.set_input_files("#image-input", image)
    run_and_wait(page)
    caption = page.inner_text("#caption")
    _, answer = call(
        f"{url}/v1/models/captioning:predict", {"instances": [b64(Path(image).read_bytes())]}
    )
    assert caption.strip() == answer["predictions"][0]["captions"].strip()
    assert page.locator("#preview").count() == 1
    # The export returns attention (batch, steps, grid h, grid w): one map per caption word.
    words = answer["predictions"][0]["captions"].split()
    assert len(answer["predictions"][0]["attention"]) >= len(words)
    assert page.locator("#attention canvas.heatmap").count() == len(words)


@pytest.mark.xdist_group("captioning")
def test_captioning_attention_heat_maps_when_the_signature_returns_them(page, runs, model_servers):
    # The tiny test model's feature grid is 1 x 1; the predict answer is replaced here by one
    # with a 2 x 2 grid per word, as the SavedModel shapes it (steps, height, width).
    url, _ = model_servers.get("captioning")
    answer = {
        "predictions": [
            {
                "captions": "a dog runs",
                "decoded": True,
                "attention": [
                    [[0.7, 0.1], [0.1, 0.1]],
                    [[0.1, 0.7], [0.1, 0.1]],
                    [[0.1, 0.1], [0.1, 0.7]],
                    [[0.25, 0.25], [0.25, 0.25]],  # the end token's step
                ],
            }
        ]
    }
    page.route(
        "**/v1/models/captioning:predict",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(answer)
        ),
    )
    open_model(page, url, "captioning")
    page.set_input_files("#image-input", runs.get("captioning").inputs()[0])
    run_and_wait(page)
    assert page.inner_text("#caption") == "a dog runs"
    assert page.locator("#attention canvas.heatmap").count() == 3
    assert page.locator("#attention figcaption").all_inner_texts() == ["a", "dog", "runs"]


@pytest.mark.xdist_group("forecasting")
def test_forecasting_plot_from_an_uploaded_csv(page, runs, model_servers, tmp_path):
    url, _ = model_servers.get("forecasting")
    task = runs.get("forecasting").task
    prices = tmp_path / "prices.csv"
    shutil.copy(SAMPLES / "forecasting" / "prices.csv", prices)  # three tickers, long layout
    open_model(page, url, "forecasting")
    page.set_input_files("#csv-file", str(prices))
    page.wait_for_function("document.querySelector('#ticker').options.length === 3")
    page.select_option("#ticker", "JPM")
    run_and_wait(page)
    assert page.locator("svg#forecast-plot path.history").count() == 1
    assert page.locator("svg#forecast-plot path.forecast").count() == 1
    assert page.locator("svg#forecast-plot path.persistence").count() == 1
    rows = page.locator("#forecast-table tr")
    assert rows.count() == 1 + task.cfg.horizon
    # The page sent the ticker's last `window` closes: the same request gives the table.
    with prices.open(newline="") as f:
        closes = [[float(r["close"])] for r in csv.DictReader(f) if r["Name"] == "JPM"]
    window = closes[-task.cfg.window :]
    _, answer = call(f"{url}/v1/models/forecasting:predict", {"instances": [window]})
    shown = [
        float(rows.nth(1 + h).locator("td").nth(1).inner_text()) for h in range(task.cfg.horizon)
    ]
    assert shown == pytest.approx(answer["predictions"][0]["forecast"], abs=0.006)
    persistence = float(rows.nth(1).locator("td").nth(2).inner_text())
    assert persistence == pytest.approx(closes[-1][0], abs=0.006)
    assert "JPM" in page.inner_text("#output .source")
