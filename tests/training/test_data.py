"""SynthShapes: determinism, masks and boxes, composites, class-free backgrounds, NumPy-only export."""
import subprocess
import sys

import numpy as np
import pytest

from training.data import CLASSES, SynthShapes, shape_inside
from training.errors import DatasetError


def test_items_are_deterministic_and_splits_differ():
    a = SynthShapes("train", length=30)[7]
    b = SynthShapes("train", length=30)[7]
    np.testing.assert_array_equal(a.image, b.image)
    assert a.label == b.label
    c = SynthShapes("test", length=30)[7]
    d = SynthShapes("train", length=30, seed=1)[7]
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.image, d.image)


def test_image_format_and_balanced_labels():
    images, labels, masks, boxes = SynthShapes("val", length=40).arrays()
    assert images.shape == (40, 3, 64, 64) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    # every block of ten items is a permutation of the ten classes
    for block in labels.reshape(4, 10):
        assert sorted(block.tolist()) == list(range(len(CLASSES)))
    assert masks.dtype == bool and boxes.dtype == np.int64


def test_box_is_the_extent_of_the_mask():
    ds = SynthShapes("test", length=20, size=(48, 80))
    for i in range(20):
        s = ds[i]
        assert s.image.shape == (3, 48, 80)
        ys, xs = np.nonzero(s.mask)
        assert s.box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        # radius >= 0.24 * min(H, W); the thinnest class (arrow) covers about 0.4 r^2
        assert s.mask.sum() > 0.4 * (0.24 * 48) ** 2


def test_background_is_the_image_away_from_the_object():
    ds = SynthShapes("train", length=10)
    for i in range(10):
        s, bg = ds[i], ds.background(i)
        far = ~_dilate(s.mask, 2)
        np.testing.assert_array_equal(s.image[:, far], bg[:, far])
        assert np.abs(s.image[:, s.mask] - bg[:, s.mask]).mean() > 0.05


def _dilate(mask, r):
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def test_each_class_shape_is_distinct():
    """The unit-frame shapes differ pairwise on a good fraction of the plane."""
    g = np.linspace(-1.1, 1.1, 111)
    u, v = np.meshgrid(g, g)
    shapes = [shape_inside(k, u, v) for k in range(len(CLASSES))]
    for i in range(len(shapes)):
        assert 0.1 < shapes[i].mean() < 0.8, CLASSES[i]
        for j in range(i):
            assert (shapes[i] != shapes[j]).mean() > 0.05, (CLASSES[i], CLASSES[j])


def test_composite_has_two_different_objects():
    ds = SynthShapes("test", length=40)
    image, labels, masks, boxes = ds.composite(3)
    assert image.shape == (3, 64, 128) and masks.shape == (2, 64, 128)
    assert labels[0] != labels[1]
    assert masks[0][:, 64:].sum() == 0 and masks[1][:, :64].sum() == 0
    assert boxes[1][0] >= 64
    np.testing.assert_array_equal(image[:, :, :64], ds[6].image)


def _ridge_accuracy(x_train, y_train, x_test, y_test, lam=10.0):
    """One-vs-all ridge regression: a linear classifier in closed form."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    targets = np.eye(10)[y_train]
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ targets)
    return float(np.mean(np.argmax(b @ w, 1) == y_test))


def _pool(x, k=4):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5)).reshape(n, -1)


def test_background_pixels_do_not_predict_the_class():
    """A linear classifier on the pixels outside the object mask stays near chance.

    The object's pixels are replaced by the background under it (the item
    rendered without its object), so the hole's shape cannot leak the class.
    As a control, the same classifier on the masks alone is far above chance,
    so the test can fail if backgrounds carried class information.
    """
    n_train, n_test = 1500, 1000
    ds = SynthShapes("train", length=n_train + n_test, size=32)
    images, labels, masks, _ = ds.arrays()
    outside = np.stack([ds.background(i) for i in range(len(ds))])
    np.testing.assert_array_equal(outside[~np.broadcast_to(_dilate_batch(masks), outside.shape)],
                                  images[~np.broadcast_to(_dilate_batch(masks), images.shape)])
    feats = _pool(outside)
    acc = _ridge_accuracy(feats[:n_train], labels[:n_train], feats[n_train:], labels[n_train:])
    chance_sd = np.sqrt(0.1 * 0.9 / n_test)
    assert acc < 0.1 + 3 * chance_sd, acc
    mask_feats = _pool(masks[:, None].astype(np.float64), 2)
    control = _ridge_accuracy(mask_feats[:n_train], labels[:n_train], mask_feats[n_train:], labels[n_train:])
    assert control > 0.3, control


def _dilate_batch(masks):
    return np.stack([_dilate(m, 2) for m in masks])[:, None]


def test_bad_requests_raise_dataset_errors():
    with pytest.raises(DatasetError, match="split"):
        SynthShapes("holdout")
    with pytest.raises(DatasetError, match="at least 16"):
        SynthShapes("train", size=8)
    with pytest.raises(IndexError):
        SynthShapes("train", length=5)[5]
    with pytest.raises(DatasetError, match="empty range"):
        SynthShapes("train", length=5).arrays(5, 9)


def test_dataset_export_works_without_torch(tmp_path):
    """``eventsim dataset export`` runs with torch made unimportable."""
    out, lab, msk = tmp_path / "x.npy", tmp_path / "y.npy", tmp_path / "m.npy"
    code = ("import sys; sys.modules['torch'] = None; from eventsim.cli import main; "
            f"sys.exit(main(['dataset', 'export', '--split', 'test', '--n', '5', '--out', r'{out}', "
            f"'--labels', r'{lab}', '--masks', r'{msk}']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    images = np.load(out)
    assert images.shape == (5, 3, 64, 64) and images.dtype == np.float32
    ref = SynthShapes("test", length=5).arrays()
    np.testing.assert_array_equal(images, ref[0])
    np.testing.assert_array_equal(np.load(lab), ref[1])
    np.testing.assert_array_equal(np.load(msk), ref[2])


def test_evaluate_with_eventsim_works_without_torch():
    """``eventsim evaluate --backend eventsim`` needs only NumPy (and the shipped default model)."""
    import json

    from eventsim import default_model

    code = ("import sys; sys.modules['torch'] = None; from eventsim.cli import main; "
            f"sys.exit(main(['evaluate', r'{default_model()}', '--n', '4', '--json']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n"] == 4 and 0.0 <= out["accuracy"] <= 1.0 and "conv1" in out["spike_rates"]


def test_dataset_export_composite(tmp_path):
    from eventsim.cli import main

    out, lab = tmp_path / "c.npy", tmp_path / "cl.npy"
    assert main(["dataset", "export", "--composite", "--n", "2", "--out", str(out), "--labels", str(lab)]) == 0
    assert np.load(out).shape == (2, 3, 64, 128)
    assert np.load(lab).shape == (2, 2)
