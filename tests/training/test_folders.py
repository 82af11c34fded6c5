"""ImageFolder / Tiny-ImageNet loading on a tiny folder made here, and its error messages."""
import numpy as np
import pytest

PIL = pytest.importorskip("PIL.Image")

from training.errors import DatasetError  # noqa: E402
from training.folders import ImageFolder  # noqa: E402


def _img(path, colour, size=(20, 10)):
    PIL.new("RGB", size, colour).save(path)


def make_tiny_imagenet(root, classes=("n001", "n002"), per_class=3, val=4):
    """Tiny-ImageNet layout: train/<wnid>/images + boxes, val/images + val_annotations.txt."""
    (root / "wnids.txt").write_text("\n".join(classes) + "\n")
    for k, wnid in enumerate(classes):
        d = root / "train" / wnid / "images"
        d.mkdir(parents=True)
        lines = []
        for i in range(per_class):
            _img(d / f"{wnid}_{i}.JPEG", (200 * k, 100, 50))
            lines.append(f"{wnid}_{i}.JPEG\t2\t1\t12\t9")
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("\n".join(lines) + "\n")
    (root / "val" / "images").mkdir(parents=True)
    ann = []
    for i in range(val):
        wnid = classes[i % len(classes)]
        _img(root / "val" / "images" / f"val_{i}.JPEG", (0, 0, 255))
        ann.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t10\t5")
    (root / "val" / "val_annotations.txt").write_text("\n".join(ann) + "\n")
    return root


def test_tiny_imagenet_train_and_val(tmp_path):
    root = make_tiny_imagenet(tmp_path)
    train = ImageFolder(root, "train", size=(8, 16))
    assert train.classes == ("n001", "n002") and len(train) == 6
    images, labels = train.arrays()
    assert images.shape == (6, 3, 8, 16) and images.dtype == np.float32
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(images[3, 0], 200 / 255, atol=1 / 255)       # colour survives the resize
    _, _, box = train.load(0)
    sx, sy = 16 / 20, 8 / 10                                     # source 20x10 -> 16x8
    assert box == (round(2 * sx), round(1 * sy), round(12 * sx), round(9 * sy))
    val = ImageFolder(root, "val", size=(8, 16))
    assert len(val) == 4 and val.arrays()[1].tolist() == [0, 1, 0, 1]
    assert val.load(1)[2] == (0, 0, round(10 * sx), round(5 * sy))


def test_missing_annotations_file(tmp_path):
    root = make_tiny_imagenet(tmp_path)
    (root / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DatasetError, match="annotations file, missing: .*val_annotations.txt"):
        ImageFolder(root, "val")


def test_empty_class_folder(tmp_path):
    root = make_tiny_imagenet(tmp_path)
    for f in (root / "train" / "n002" / "images").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match=r"class folder .*n002 is empty"):
        ImageFolder(root, "train")


def test_annotation_of_unknown_class_or_file(tmp_path):
    root = make_tiny_imagenet(tmp_path)
    ann = root / "val" / "val_annotations.txt"
    ann.write_text(ann.read_text() + "val_9.JPEG\tn999\t0\t0\t1\t1\n")
    with pytest.raises(DatasetError, match="n999"):
        ImageFolder(root, "val")
    ann.write_text("val_0.JPEG\tn001\t0\t0\n")
    with pytest.raises(DatasetError, match="expected 6 fields"):
        ImageFolder(root, "val")


def test_plain_image_folder(tmp_path):
    for k, name in enumerate(("cat", "dog")):
        (tmp_path / name).mkdir()
        for i in range(2):
            _img(tmp_path / name / f"{i}.png", (k * 255, 0, 0))
    ds = ImageFolder(tmp_path, "train", size=(4, 4))
    assert ds.classes == ("cat", "dog")
    images, labels = ds.arrays()
    assert labels.tolist() == [0, 0, 1, 1] and images[2, 0].min() == 1.0
    assert ds.load(0)[2] is None
    with pytest.raises(FileNotFoundError, match="not found"):
        ImageFolder(tmp_path / "nowhere")
