"""Real image data for accuracy estimates, found on disk, never downloaded.

- `fashion-mnist`: Zalando's Fashion-MNIST (60k + 10k grey 28x28 images, 10 classes) from Debian's
  `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist) or, when `$NACOS_DATA` is set, only
  from the folder it names (the four idx .gz files in it or in its `fashion-mnist/` subfolder).
- `digits`: scikit-learn's bundled 1,797 grey 8x8 digits, a fallback that needs no system package.

Splits are deterministic (seeded permutations fixed here): Fashion-MNIST keeps its official test
set and holds out 5,000 training images for validation; digits splits 1197 / 300 / 300. Images stay
uint8 until `Split.tensors` turns a (sub)set into the network's input shape: zero-padded when the
input is slightly larger (28 -> 32, as LeNet did with MNIST), resized otherwise, grey channel
repeated for RGB inputs, normalised with the training set's mean and deviation.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import NacosError

DATASETS = ("fashion-mnist", "digits")
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
FASHION_VALIDATION = 5000
SPLIT_SEED = 20211  # fixes the train/validation permutations; never change it, results depend on it


@dataclass(frozen=True)
class Split:
    """Images (N, H, W) uint8 and labels (N,) int64 of one split, with the training set's statistics."""

    images: np.ndarray
    labels: np.ndarray
    mean: float
    std: float

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None, seed: int = 0) -> Split:
        """The first `n` images of a seeded permutation (all of them when n is None or too large)."""
        if n is None or n >= len(self):
            return self
        order = np.random.default_rng(seed).permutation(len(self))[:n]
        return Split(self.images[order], self.labels[order], self.mean, self.std)

    def tensors(self, input_shape) -> tuple:
        """(x, y) torch tensors, x float32 of shape (N, C, H, W) for the network's input shape."""
        import torch
        from torch.nn import functional

        _, channels, height, width = input_shape
        x = torch.from_numpy(self.images).float().div_(255.0).unsqueeze(1)
        h, w = x.shape[-2:]
        if (height, width) != (h, w):
            if h <= height <= h + h // 4 and w <= width <= w + w // 4:
                top, left = (height - h) // 2, (width - w) // 2
                x = functional.pad(x, (left, width - w - left, top, height - h - top))
            else:
                x = functional.interpolate(x, size=(height, width), mode="bilinear", align_corners=False,
                                           antialias=height < h)
        x = (x - self.mean) / self.std
        if channels != 1:
            x = x.expand(-1, channels, -1, -1).contiguous()
        return x, torch.from_numpy(self.labels.astype(np.int64))


@dataclass(frozen=True)
class Dataset:
    name: str
    num_classes: int
    train: Split
    val: Split
    test: Split


def load_dataset(name: str) -> Dataset:
    if name == "fashion-mnist":
        return _fashion_mnist()
    if name == "digits":
        return _digits()
    raise NacosError(f"unknown dataset '{name}'; datasets: {', '.join(DATASETS)}")


def fashion_mnist_folder() -> Path:
    """Where the four Fashion-MNIST files are, or a NacosError that says how to get them.

    A folder named by $NACOS_DATA is used or refused, never replaced by the system copy: a
    result computed on other data than the user asked for would look right and be wrong.
    """
    needed = [f for pair in FASHION_FILES.values() for f in pair]
    if os.environ.get("NACOS_DATA"):
        root = Path(os.environ["NACOS_DATA"])
        for folder in (root / "fashion-mnist", root):
            if all((folder / f).is_file() for f in needed):
                return folder
        raise NacosError(f"Fashion-MNIST not found in NACOS_DATA folder '{root}' (nor in its fashion-mnist/ "
                         f"subfolder): it needs {', '.join(needed)}; put them there, or unset NACOS_DATA to use "
                         f"the system copy ({SYSTEM_FASHION_MNIST})")
    if all((SYSTEM_FASHION_MNIST / f).is_file() for f in needed):
        return SYSTEM_FASHION_MNIST
    raise NacosError(f"Fashion-MNIST not found (looked in {SYSTEM_FASHION_MNIST}); install it with "
                     f"`apt-get install dataset-fashion-mnist`, or set NACOS_DATA to a folder holding "
                     f"{', '.join(needed)}, or use --dataset digits")


def _damaged(path: Path, what: str) -> NacosError:
    """A file that is there but unusable: only a new copy helps."""
    return NacosError(f"'{path}' {what}; replace the file (the system copy: apt-get install --reinstall "
                      f"dataset-fashion-mnist)")


def read_idx(path: Path) -> np.ndarray:
    """An idx file (LeCun's MNIST format, gzip): big-endian dims after a magic of 0x0000 08 NDIM."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # not gzip, cut short, corrupt inside
        raise _damaged(path, f"is not a whole gzip file ({exc})") from None
    except OSError as exc:
        raise NacosError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise _damaged(path, "is not an idx file of unsigned bytes")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise _damaged(path, "is truncated (within its header)")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise _damaged(path, f"is truncated ({body.size} of {int(np.prod(dims))} bytes)")
    return body.reshape(dims)


def _with_stats(train_images: np.ndarray, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Split]:
    scaled = train_images.astype(np.float64) / 255.0
    mean, std = float(scaled.mean()), float(scaled.std())
    return {k: Split(np.array(x), y.astype(np.int64), mean, std) for k, (x, y) in splits.items()}  # writable copies


def _fashion_mnist() -> Dataset:
    folder = fashion_mnist_folder()
    images, labels = (read_idx(folder / f) for f in FASHION_FILES["train"])
    test_images, test_labels = (read_idx(folder / f) for f in FASHION_FILES["test"])
    if len(images) != len(labels) or len(test_images) != len(test_labels):
        raise NacosError(f"Fashion-MNIST in '{folder}' has images and labels of different counts; reinstall it")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    train, val = order[:-FASHION_VALIDATION], order[-FASHION_VALIDATION:]
    splits = _with_stats(images[train], {"train": (images[train], labels[train]), "val": (images[val], labels[val]),
                                         "test": (test_images, test_labels)})
    return Dataset("fashion-mnist", 10, **splits)


def _digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise NacosError("the digits dataset needs scikit-learn: pip install scikit-learn") from None
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    train, val, test = order[:-600], order[-600:-300], order[-300:]
    splits = _with_stats(images[train], {k: (images[i], digits.target[i])
                                         for k, i in (("train", train), ("val", val), ("test", test))})
    return Dataset("digits", 10, **splits)
