"""The viewer in a real headless Chromium: URL state, drawn colours, keyboard, mouse readout, layout.

Skipped, with a notice saying how to enable them, when no Chromium is found
(``.ci/run`` installs ``chromium-headless-shell``).  Set
``EVENTSIM_UPDATE_SCREENSHOT=1`` to rewrite the README's ``docs/img/view.png``.
"""
import io
import os
from pathlib import Path

import numpy as np
import pytest

from browser import HOW_TO_ENABLE, Browser, find_chromium
from eventsim import Result
from eventsim.view import colormap_lut, write_html
from viewdata import colour_range, decode_layer, lut_index, read_payload

CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip(HOW_TO_ENABLE, allow_module_level=True)
Image = pytest.importorskip("PIL.Image", reason="the browser tests decode screenshots with Pillow (matplotlib's)")

DOCS_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "view.png"
N, T, SIZE = 3, 10, 32
SHAPES = {"conv1": (16, 16), "conv2": (8, 8), "conv3": (4, 4)}
CHANNELS = 8


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A seeded Result with known maps (one silent frame) and recorded conv3 spikes, and its page."""
    rng = np.random.default_rng(7)
    sam = {k: rng.uniform(0, 10, (N, T, *hw)).astype(np.float32) * rng.uniform(0.1, 3, (N, T, 1, 1)).astype(np.float32)
           for k, hw in SHAPES.items()}
    sam["conv3"][1, 0] = 0.0
    spikes = {"conv3": (rng.uniform(size=(N, T, CHANNELS, 4, 4)) < 0.3).astype(np.uint8)}
    counts = {k: {"spikes": rng.integers(0, 500, (N, T)), "synops": np.zeros((N, T), np.int64),
                  "sam_updates": np.zeros((N, T), np.int64)} for k in ("input", *SHAPES)}
    counts["conv3"]["spikes"] = spikes["conv3"].sum(axis=(2, 3, 4)).astype(np.int64)
    attrs = {"timesteps": T, "gamma": 0.5, "sam_convention": "paper", "seed": 0, "model_sha256": "0" * 64,
             "backend": "eventsim", "neurons": {"input": 3 * SIZE * SIZE, "conv1": 4096, "conv2": 1024, "conv3": 128}}
    result = Result(logits=rng.normal(size=(N, 4)), sam=sam, counts=counts, attrs=attrs, spikes=spikes)
    images = rng.uniform(0, 1, (N, 3, SIZE, SIZE))
    page = write_html(result, images, tmp_path_factory.mktemp("page") / "view.html")
    return result, images, page, read_payload(page)


@pytest.fixture(scope="module")
def browser():
    b = Browser(CHROMIUM, 1280, 800)
    yield b
    b.close()


def _open(browser, page, query):
    browser.resize(1280, 800)
    browser.open(page.as_uri() + "?" + query)
    browser.settle()


def _screenshot(browser):
    return np.asarray(Image.open(io.BytesIO(browser.screenshot())).convert("RGB")).astype(int)


def _map_rect(browser):
    return browser.eval("(() => { const r = document.getElementById('map').getBoundingClientRect();"
                        " return [r.left, r.top, r.width, r.height]; })()")


def test_url_state_is_applied_and_exposed_on_body(browser, synthetic):
    _, _, page, _ = synthetic
    _open(browser, page, "img=1&layer=conv3&t=7")
    state = browser.eval("({...document.body.dataset, img_sel: document.getElementById('img-select').value,"
                         " layer_sel: document.getElementById('layer-select').selectedOptions[0].text,"
                         " slider: document.getElementById('t-slider').value, search: location.search,"
                         " notice: document.getElementById('notice').textContent})")
    assert (state["img"], state["layer"], state["t"]) == ("1", "conv3", "7")
    assert (state["img_sel"], state["layer_sel"], state["slider"]) == ("1", "conv3", "7")
    assert state["search"] == "?img=1&layer=conv3&t=7" and state["notice"] == ""


def test_unknown_url_values_fall_back_with_a_notice(browser, synthetic):
    _, _, page, _ = synthetic
    _open(browser, page, "img=9&layer=fc9&t=99")
    state = browser.eval("({...document.body.dataset, notice: document.getElementById('notice').textContent})")
    assert (state["img"], state["layer"], state["t"]) == ("0", "conv1", str(T - 1))
    assert "layer 'fc9' is not in this file" in state["notice"] and "image 9" in state["notice"]


@pytest.mark.parametrize("layer, norm, cmap, alpha", [
    ("conv3", "layer", "jet", 1.0),
    ("conv3", "frame", "inferno", 1.0),
    ("conv1", "global", "viridis", 0.5),
])
def test_drawn_colours_match_the_colormap(browser, synthetic, layer, norm, cmap, alpha):
    result, images, page, payload = synthetic
    img, t = 1, 7
    _open(browser, page, f"img={img}&layer={layer}&t={t}&norm={norm}&cmap={cmap}&alpha={alpha}")
    assert browser.eval("[document.body.dataset.norm, document.body.dataset.cmap, document.body.dataset.alpha]") == \
        [norm, cmap, f"{alpha:g}"]
    shot = _screenshot(browser)
    left, top, width, height = _map_rect(browser)
    q, lo, scale, values = decode_layer(payload, layer)
    a, b = colour_range(lo, scale, img, t, norm)
    colours = colormap_lut(cmap)[lut_index(values[img, t], a, b)]           # (h, w, 3) per map cell
    h, w = SHAPES[layer]
    pixels = np.rint(images[img] * 255).astype(np.uint8).transpose(1, 2, 0)
    grey = pixels.astype(float).mean(axis=2)                                 # the page blends over grey
    checked = 0
    for y in range(1, SIZE, 3):                                              # image pixel centres
        for x in range(2, SIZE, 3):
            expected = alpha * colours[y * h // SIZE, x * w // SIZE] + (1 - alpha) * grey[y, x]
            px, py = left + (x + 0.5) * width / SIZE, top + (y + 0.5) * height / SIZE
            got = shot[int(py), int(px)]
            assert np.abs(got - expected).max() <= 2, (y, x, got, expected)
            checked += 1
    assert checked == 110
    assert len({tuple(c) for c in colours.reshape(-1, 3)}) > 3               # not a flat picture


@pytest.mark.parametrize("norm", ["frame", "layer"])
def test_page_without_images_draws_opaque_maps(browser, synthetic, tmp_path, norm):
    result, _, _, _ = synthetic
    page = write_html(result, None, tmp_path / "bare.html", layers=["conv3"], indices=[1, 2])
    payload = read_payload(page)
    img, t = 0, 0                               # result image 1, step 0: a silent (all-zero) conv3 frame
    _open(browser, page, f"img=1&layer=conv3&t={t}&norm={norm}&alpha=0.3")
    assert browser.eval("[document.body.dataset.img, document.getElementById('alpha').disabled]") == ["1", True]
    shot = _screenshot(browser)
    left, top, width, height = _map_rect(browser)
    _, lo, scale, values = decode_layer(payload, "conv3")
    a, b = colour_range(lo, scale, img, t, norm)
    colours = colormap_lut("jet")[lut_index(values[img, t], a, b)]
    if norm == "frame":                         # a constant frame takes the low end of the colormap
        assert (colours == colormap_lut("jet")[0]).all()
    for r in range(4):
        for c in range(4):
            got = shot[int(top + (r + 0.5) * height / 4), int(left + (c + 0.5) * width / 4)]
            assert np.abs(got - colours[r, c]).max() <= 2, (r, c, got, colours[r, c])


def test_arrow_keys_step_through_time_and_space_plays(browser, synthetic):
    _, _, page, _ = synthetic
    _open(browser, page, "img=1&layer=conv3&t=7")
    browser.press("ArrowRight")
    assert browser.eval("[document.body.dataset.t, location.search]") == ["8", "?img=1&layer=conv3&t=8"]
    browser.press("ArrowRight")
    browser.press("ArrowRight")                                              # stops at the last step
    assert browser.eval("document.body.dataset.t") == str(T - 1)
    browser.press("ArrowLeft")
    assert browser.eval("document.body.dataset.t") == str(T - 2)
    browser.press(" ")
    assert browser.eval("document.body.dataset.playing") == "true"
    browser.wait_for(f"document.body.dataset.t !== '{T - 2}'", timeout=5)   # playing advances (and wraps)
    browser.press(" ")
    assert browser.eval("document.body.dataset.playing") == "false"


def test_readout_shows_raw_value_and_spikes_under_the_mouse(browser, synthetic):
    result, _, page, _ = synthetic
    img, t = 2, 4
    _open(browser, page, f"img={img}&layer=conv3&t={t}")
    left, top, width, height = _map_rect(browser)
    for r, c in [(0, 0), (2, 1), (3, 3)]:
        browser.move_mouse(left + (c + 0.5) * width / 4, top + (r + 0.5) * height / 4)
        got = browser.eval("({...document.getElementById('readout').dataset,"
                           " text: document.getElementById('readout').textContent})")
        frame = result.sam["conv3"][img, t].astype(np.float64)
        bound = (frame.max() - frame.min()) / 510
        assert abs(float(got["sam"]) - frame[r, c]) <= bound * (1 + 1e-9) + 1e-12
        assert int(got["spikes"]) == int(result.spikes["conv3"][img, t, :, r, c].sum())
        assert f"row {r}, col {c}, step {t}" in got["text"] and f"of {CHANNELS} channels" in got["text"]


@pytest.mark.parametrize("width", [1280, 390])
def test_layout_fits_the_window(browser, synthetic, width):
    _, _, page, _ = synthetic
    _open(browser, page, "img=0&layer=conv2&t=3")
    browser.resize(width, 800)
    browser.settle()
    sizes = browser.eval("(() => { const m = document.getElementById('map').getBoundingClientRect();"
                         " const c = document.getElementById('chart').getBoundingClientRect();"
                         " return {scroll: document.documentElement.scrollWidth, map: [m.left, m.right, m.bottom],"
                         " chart: [c.left, c.right, c.width]}; })()")
    assert sizes["scroll"] <= width                                          # no horizontal scrolling
    assert sizes["map"][0] >= 0 and sizes["map"][1] <= width and sizes["chart"][1] <= width
    if width == 1280:                                                        # map and chart side by side, on screen
        assert sizes["map"][2] <= 800 and sizes["chart"][0] > sizes["map"][1]
    labels = browser.eval("[...document.querySelectorAll('select, input')].filter(e => !e.labels.length).length")
    assert labels == 0                                                       # every control has a label


def test_default_model_page_and_docs_screenshot(browser, tmp_path):
    """The shipped model on SynthShapes images: a realistic page, screenshotted for the README."""
    from eventsim import Simulator, default_model, load_model
    from training.data import SynthShapes

    model = load_model(default_model())
    images = SynthShapes("test", size=model.input_shape[1:], length=2).arrays()[0]
    result = Simulator(model, sam_layers=model.spiking_layers).run(images=images, seed=0, record_spikes=True)
    page = write_html(result, images, tmp_path / "view.html", title="eventsim view: default model, SynthShapes")
    browser.resize(1280, 800)
    browser.open(page.as_uri() + "?img=1&layer=conv2&t=7")
    browser.settle()
    left, top, width, height = _map_rect(browser)
    browser.move_mouse(left + width * 0.45, top + height * 0.5)
    browser.settle()
    png = browser.screenshot()
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    heat = shot[int(top):int(top + height), int(left):int(left + width)]
    assert heat.reshape(-1, 3).std(axis=0).max() > 20                      # a heatmap, not a blank canvas
    assert "SAM" in browser.eval("document.getElementById('readout').textContent")
    if os.environ.get("EVENTSIM_UPDATE_SCREENSHOT"):
        Image.open(io.BytesIO(png)).convert("RGB").save(DOCS_SCREENSHOT, optimize=True)
        assert DOCS_SCREENSHOT.stat().st_size < 150_000
