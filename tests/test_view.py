"""``eventsim view``: the embedded data, the size cap and bad inputs (no browser needed; see test_view_browser)."""
import base64
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from eventsim import InputError, Result, Simulator
from eventsim.cli import main
from eventsim.random_models import random_model
from eventsim.view import COLORMAPS, colormap_lut, quantize_frames, write_html
from viewdata import decode_layer, read_payload


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real simulation with spikes recorded: (result, images, result file, images file)."""
    d = tmp_path_factory.mktemp("view")
    model = random_model(seed=3, input_shape=(3, 16, 16), timesteps=8)
    images = np.random.default_rng(0).uniform(0, 1, (3, 3, 16, 16))
    result = Simulator(model, sam_layers=model.spiking_layers).run(images=images, seed=1, record_spikes=True)
    result.save(d / "result.h5")
    np.save(d / "images.npy", images)
    return result, images, d / "result.h5", d / "images.npy"


def test_embedded_maps_decode_within_the_stated_bound(run, tmp_path):
    result, images, _, _ = run
    page = write_html(result, images, tmp_path / "v.html")
    payload = read_payload(page)
    assert [e["name"] for e in payload["layers"]] == list(result.sam)
    for name, maps in result.sam.items():
        _, lo, scale, values = decode_layer(payload, name)
        truth = maps.astype(np.float64)
        err = np.abs(values - truth)
        # stated bound: half a quantization step, (max - min) / 510 of each frame
        frame_range = truth.max(axis=(2, 3)) - truth.min(axis=(2, 3))
        assert (err <= (frame_range / 510)[:, :, None, None] * (1 + 1e-9) + 1e-12).all(), name
        np.testing.assert_allclose(lo, truth.min(axis=(2, 3)))
        assert err.max() <= next(e for e in payload["layers"] if e["name"] == name)["bound"] * (1 + 1e-9) + 1e-12
        entry = next(e for e in payload["layers"] if e["name"] == name)
        spikes = np.frombuffer(base64.b64decode(entry["spikes"]), entry["spikes_dtype"]).reshape(maps.shape)
        np.testing.assert_array_equal(spikes, result.spikes[name].sum(axis=2))
        assert entry["channels"] == result.spikes[name].shape[2]
    for name, per in payload["counts"].items():
        np.testing.assert_array_equal(per, result.counts[name]["spikes"])
    pix = np.frombuffer(base64.b64decode(payload["input"]["pixels"]), np.uint8).reshape(3, 16, 16, 3)
    assert np.abs(pix.transpose(0, 3, 1, 2) / 255 - images).max() <= 0.5 / 255 + 1e-12
    assert payload["predictions"] == result.predictions.tolist()


def test_subsets_embed_the_selected_slices(run, tmp_path):
    result, images, _, _ = run
    layer = list(result.sam)[-1]
    page = write_html(result, None, tmp_path / "v.html", layers=[layer], indices=[2, 0], steps=range(1, 7, 2))
    payload = read_payload(page)
    assert payload["indices"] == [2, 0] and payload["steps"] == [1, 3, 5] and payload["input"] is None
    _, _, scale, values = decode_layer(payload, layer)
    truth = result.sam[layer][np.ix_([2, 0], [1, 3, 5])]
    assert (np.abs(values - truth) <= scale[:, :, None, None] / 2 * (1 + 1e-9) + 1e-12).all()
    np.testing.assert_array_equal(payload["counts"][layer], result.counts[layer]["spikes"][np.ix_([2, 0], [1, 3, 5])])


@given(arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
              elements=st.floats(-1e6, 1e6, width=32)))
def test_quantize_frames_error_is_at_most_half_a_step(maps):
    q, lo, scale = quantize_frames(maps)
    values = lo[:, None, None] + q * scale[:, None, None]
    frame_range = maps.max(axis=(1, 2)).astype(np.float64) - maps.min(axis=(1, 2))
    np.testing.assert_allclose(scale, frame_range / 255)
    assert (np.abs(values - maps) <= scale[:, None, None] / 2 + 1e-9 * (np.abs(maps) + 1)).all()
    constant = frame_range == 0
    np.testing.assert_array_equal(values[constant], maps[constant])


def test_colormaps_match_matplotlib():
    mpl = pytest.importorskip("matplotlib")
    tolerance = {"jet": 1, "gray": 1, "viridis": 5, "inferno": 5}    # viridis, inferno: 33 anchors interpolated
    for name in COLORMAPS:
        ref = np.array([mpl.colormaps[name](i)[:3] for i in range(256)]) * 255
        assert np.abs(colormap_lut(name).astype(float) - ref).max() <= tolerance[name], name


def test_size_cap_names_the_remedies_and_writes_nothing(run, tmp_path):
    result, images, _, _ = run
    out = tmp_path / "v.html"
    remedies = r"would be [0-9.]+ kB, over the cap of 20\.0 kB \(conv1 maps.*fewer images.*fewer layers.*fewer steps"
    with pytest.raises(InputError, match=remedies):
        write_html(result, images, out, max_bytes=20_000)
    assert not out.exists()


def test_size_estimate_is_an_upper_bound(run, tmp_path):
    result, images, _, _ = run
    size = read_payload(write_html(result, images, tmp_path / "v.html"))["meta"]["size_bytes"]
    actual = (tmp_path / "v.html").stat().st_size
    assert actual <= size <= actual * 1.5 + 20_000
    write_html(result, images, tmp_path / "cap.html", max_bytes=size)    # the cap is inclusive


def test_json_cannot_close_its_script_tag(run, tmp_path):
    result, images, _, _ = run
    page = write_html(result, images, tmp_path / "v.html", title="</script><b>x</b>")
    text = page.read_text()
    assert text.count("</script>") == 2          # the data block and the program
    assert read_payload(page)["meta"]["title"] == "</script><b>x</b>"


def _with_sam(result, sam):
    return Result(logits=result.logits, sam=sam, counts=result.counts, attrs=result.attrs)


@pytest.mark.parametrize("kwargs, images, match", [
    ({"layers": ["nope"]}, "ok", r"layers: nope not among the result's SAM layers"),
    ({"indices": [5]}, "ok", r"indices: 5 not among the result's image indices"),
    ({"steps": []}, "ok", r"steps: the selection is empty"),
    ({"layers": ["conv1", "conv1"]}, "ok", r"repeated"),
    ({}, "two", r"images: 2 image\(s\) but the result has 3"),
    ({}, "gray2", r"C = 1 or 3"),
    ({}, "small", r"do not fit layer"),
    ({}, "bright", r"in \[0, 1\]"),
    ({"max_bytes": 1000}, "ok", r"over the cap"),
])
def test_bad_inputs_are_clear_errors_and_write_nothing(run, tmp_path, kwargs, images, match):
    result, good, _, _ = run
    choices = {"ok": good, "two": good[:2], "gray2": good[:, :2], "small": good[:, :, :4, :4], "bright": good * 2}
    out = tmp_path / "v.html"
    with pytest.raises(InputError, match=match):
        write_html(result, choices[images], out, **kwargs)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_non_finite_or_missing_maps_are_refused(run, tmp_path):
    result, images, _, _ = run
    bad = {k: v.copy() for k, v in result.sam.items()}
    next(iter(bad.values()))[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        write_html(_with_sam(result, bad), images, tmp_path / "v.html")
    with pytest.raises(InputError, match="no SAM maps"):
        write_html(_with_sam(result, {}), images, tmp_path / "v.html")
    assert not list(tmp_path.iterdir())


def test_cli_view_writes_a_page(run, tmp_path, capsys):
    _, _, result_file, images_file = run
    out = tmp_path / "v.html"
    assert main(["view", str(result_file), "--images", str(images_file), "--out", str(out),
                 "--layers", "conv1", "--indices", "1,2", "--steps", "2:6"]) == 0
    payload = read_payload(out)
    assert payload["steps"] == [2, 3, 4, 5] and payload["indices"] == [1, 2]
    assert [e["name"] for e in payload["layers"]] == ["conv1"]
    assert payload["layers"][0]["spikes_dtype"] == "uint8"     # the result file holds recorded spikes
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("args, match", [
    (["--layers", "conv9"], r"layers: conv9 not among the result's SAM layers"),
    (["--images", "THREE"], r"images: 4 image\(s\) but the result has 3"),
    (["--images", "NOFILE"], r"images file not found"),
    (["--steps", "a:b"], r"--steps: expected"),
    (["--indices", "x"], r"--indices: expected comma-separated integers"),
    (["--max-mb", "0.001"], r"over the cap"),
    (["--max-mb", "0"], r"--max-mb must be positive"),
])
def test_cli_view_errors_exit_2_and_write_nothing(run, tmp_path, capsys, args, match):
    _, _, result_file, images_file = run
    np.save(tmp_path / "four.npy", np.zeros((4, 3, 16, 16)))
    subst = {"THREE": str(tmp_path / "four.npy"), "NOFILE": str(tmp_path / "none.npy")}
    out = tmp_path / "v.html"
    assert main(["view", str(result_file), "--out", str(out)] + [subst.get(a, a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(match, err), err
    assert not out.exists()
