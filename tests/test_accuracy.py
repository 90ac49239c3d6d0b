"""Accuracy estimation on real data: datasets, short training, zero-cost proxies, the surrogate."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from nacos import datasets
from nacos.accuracy.proxies import ProxyEstimator
from nacos.accuracy.surrogate import RankingSurrogate
from nacos.accuracy.training import Recipe, ShortTraining
from nacos.cli import main
from nacos.errors import NacosError
from nacos.spaces import get_space
from nacos.spaces.lowering import distinct_samples

needs_fashion = pytest.mark.skipif(not datasets.SYSTEM_FASHION_MNIST.is_dir(),
                                   reason="dataset-fashion-mnist is not installed (tools/install.sh installs it)")


@pytest.fixture(scope="module")
def fashion():
    return datasets.load_dataset("fashion-mnist")


@pytest.fixture(scope="module")
def mbconv():
    return get_space("mbconv")


def small_mbconv(space, width=0.5):
    """A fixed small genotype: one block per stage, 3x3 kernels, expansion 3."""
    decisions = {"width": width}
    for s in range(4):
        decisions.update({f"s{s}.depth": 1, f"s{s}.act": "relu", f"s{s}.b0.kernel": 3, f"s{s}.b0.expand": 3,
                          f"s{s}.b0.se": False})
    decisions["s0.b0.skip"] = "add"
    decisions["s3.b0.skip"] = "none"
    return space.load({"space": "mbconv", "decisions": decisions})


# ------------------------------------------------------------------ data


@needs_fashion
def test_fashion_mnist_splits_are_fixed_and_disjoint(fashion):
    assert (len(fashion.train), len(fashion.val), len(fashion.test)) == (55000, 5000, 10000)
    again = datasets.load_dataset("fashion-mnist")
    assert np.array_equal(again.val.labels, fashion.val.labels)
    assert np.array_equal(again.train.images[:100], fashion.train.images[:100])
    train_rows = {img.tobytes() for img in fashion.train.images[:20000]}
    assert sum(img.tobytes() in train_rows for img in fashion.val.images) < 10  # a few duplicate images exist
    assert set(np.unique(fashion.train.labels)) == set(range(10))
    assert 0.2 < fashion.train.mean < 0.4 and 0.3 < fashion.train.std < 0.4


@needs_fashion
def test_tensors_pad_to_a_larger_input_and_repeat_grey(fashion):
    split = fashion.val.subset(8)
    x, y = split.tensors((1, 1, 28, 28))
    assert x.shape == (8, 1, 28, 28) and y.dtype == torch.int64
    assert abs(float(split.tensors((1, 1, 28, 28))[0].mean()) - (split.images.mean() / 255 - split.mean) / split.std) < 1e-4
    padded, _ = split.tensors((1, 3, 32, 32))
    assert padded.shape == (8, 3, 32, 32)
    background = (0.0 - split.mean) / split.std
    assert torch.allclose(padded[:, :, :2, :], torch.full_like(padded[:, :, :2, :], background))
    assert torch.allclose(padded[:, 0, 2:30, 2:30], x[:, 0]) and torch.equal(padded[:, 0], padded[:, 2])


def test_digits_fallback_resizes():
    digits = datasets.load_dataset("digits")
    assert (len(digits.train), len(digits.val), len(digits.test)) == (1197, 300, 300)
    x, y = digits.train.subset(16, seed=1).tensors((1, 1, 28, 28))
    assert x.shape == (16, 1, 28, 28) and torch.isfinite(x).all()
    assert np.array_equal(digits.train.subset(16, seed=1).labels, y.numpy())


def test_missing_fashion_mnist_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NACOS_DATA", raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(NacosError, match="apt-get install dataset-fashion-mnist"):
        datasets.load_dataset("fashion-mnist")
    assert main(["accuracy", "mbconv", "--estimators", "train"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nacos: error: Fashion-MNIST not found")


@needs_fashion
def test_nacos_data_folder_is_used(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name in [f for pair in datasets.FASHION_FILES.values() for f in pair]:
        (folder / name).symlink_to(datasets.SYSTEM_FASHION_MNIST / name)
    monkeypatch.setenv("NACOS_DATA", str(tmp_path))
    monkeypatch.setattr(datasets, "SYSTEM_FASHION_MNIST", tmp_path / "nowhere")
    assert datasets.fashion_mnist_folder() == folder


def test_truncated_idx_file_is_refused(tmp_path):
    import gzip

    path = tmp_path / "bad-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\0\0\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 100)
    with pytest.raises(NacosError, match="truncated"):
        datasets.read_idx(path)


def test_nacos_data_without_the_files_is_refused_not_replaced(tmp_path, monkeypatch, capsys):
    """A folder the user names is used or refused: the system copy must not stand in for it."""
    needed = [f for pair in datasets.FASHION_FILES.values() for f in pair]
    system = tmp_path / "system"
    system.mkdir()
    for name in needed:
        (system / name).write_bytes(b"")
    (tmp_path / "mine").mkdir()
    monkeypatch.setattr(datasets, "SYSTEM_FASHION_MNIST", system)
    monkeypatch.setenv("NACOS_DATA", str(tmp_path / "mine"))
    with pytest.raises(NacosError) as err:
        datasets.fashion_mnist_folder()
    assert f"NACOS_DATA folder '{tmp_path / 'mine'}'" in str(err.value) and all(n in str(err.value) for n in needed)
    assert main(["accuracy", "mbconv", "--estimators", "train"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nacos: error: Fashion-MNIST not found in NACOS_DATA folder")
    monkeypatch.delenv("NACOS_DATA")
    assert datasets.fashion_mnist_folder() == system  # without NACOS_DATA the system copy is the one


@pytest.mark.parametrize("damage", ["not-gzip", "cut-short"])
def test_corrupt_fashion_mnist_file_says_to_replace_it(tmp_path, monkeypatch, capsys, damage):
    import gzip

    payload = np.random.default_rng(0).bytes(4096)  # incompressible: half the stream is half the data
    content = b"not a gzip file" if damage == "not-gzip" else gzip.compress(payload)[:2000]
    for name in [f for pair in datasets.FASHION_FILES.values() for f in pair]:
        (tmp_path / name).write_bytes(content)
    monkeypatch.setenv("NACOS_DATA", str(tmp_path))
    with pytest.raises(NacosError, match="is not a whole gzip file.*replace the file") as err:
        datasets.load_dataset("fashion-mnist")
    assert str(tmp_path / datasets.FASHION_FILES["train"][0]) in str(err.value)
    assert main(["accuracy", "mbconv", "--estimators", "train"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nacos: error: ") and "replace the file" in lines[0]


# ------------------------------------------------------------------ short training


@needs_fashion
def test_short_training_lowers_the_loss_and_beats_chance(fashion, mbconv):
    recipe = Recipe(epochs=2, train_images=2048, val_images=1000)
    estimate = ShortTraining(mbconv, fashion, recipe).estimate(small_mbconv(mbconv))
    d = estimate.details
    assert d["steps"] == 32 and d["epochs_done"] == pytest.approx(2.0)
    assert d["last_loss"] < 0.7 * d["first_loss"]
    assert estimate.is_accuracy and estimate.value > 0.5  # chance is 0.1
    again = ShortTraining(mbconv, fashion, recipe).estimate(small_mbconv(mbconv))
    assert again.value == pytest.approx(estimate.value, abs=0.02)  # seeded recipe, same network


def test_short_training_on_digits_beats_chance_on_test():
    digits = datasets.load_dataset("digits")
    space = get_space("mbconv")
    recipe = Recipe(epochs=5, train_images=None, val_images=None)
    estimate = ShortTraining(space, digits, recipe, test=True).estimate(small_mbconv(space))
    assert estimate.details["steps"] == 50
    assert estimate.value > 0.6 and estimate.details["test_accuracy"] > 0.6  # chance is 0.1


def test_time_budget_cuts_training_short(mbconv):
    digits = datasets.load_dataset("digits")
    recipe = Recipe(epochs=50, max_seconds=3, train_images=None, val_images=None)
    d = ShortTraining(mbconv, digits, recipe).estimate(small_mbconv(mbconv)).details
    assert 10 < d["steps"] < 500 and d["epochs_done"] < 50
    assert d["train_seconds"] < 3 * 1.5 + 1


def test_bad_recipe_is_refused():
    with pytest.raises(NacosError, match="epochs"):
        Recipe(epochs=0).check()
    with pytest.raises(NacosError, match="train images"):
        Recipe(train_images=0).check()


# ------------------------------------------------------------------ zero-cost proxies


@needs_fashion
@pytest.mark.parametrize("proxy", ["synflow", "naswot", "grad_norm"])
def test_proxies_are_deterministic_and_finite(fashion, mbconv, proxy):
    genotype = small_mbconv(mbconv)
    first = ProxyEstimator(proxy, mbconv, fashion).estimate(genotype)
    second = ProxyEstimator(proxy, mbconv, fashion).estimate(genotype)
    assert math.isfinite(first.value) and not first.is_accuracy
    assert first.value == pytest.approx(second.value, rel=1e-6)


@needs_fashion
def test_proxies_grow_with_width(fashion, mbconv):
    """Synflow sums over parameters and NASWOT's codes get richer: a wider net scores higher."""
    narrow, wide = small_mbconv(mbconv, 0.5), small_mbconv(mbconv, 1.0)
    for proxy in ("synflow", "naswot"):
        estimator = ProxyEstimator(proxy, mbconv, fashion)
        assert estimator.estimate(wide).value > estimator.estimate(narrow).value, proxy


def test_naswot_tells_identical_inputs_apart_less():
    """Identical images give identical codes: the kernel is singular, the score -inf."""
    from nacos.accuracy.proxies import naswot

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    distinct = naswot(model, torch.randn(8, 1, 4, 4))
    same = naswot(model, torch.randn(1, 1, 4, 4).repeat(8, 1, 1, 1))
    assert math.isfinite(distinct) and same == float("-inf")


# ------------------------------------------------------------------ surrogate


def test_surrogate_learns_a_ranking_from_the_encoding(mbconv):
    """Labels that depend on the decisions (width, depths) must be ranked right on unseen genotypes."""
    genotypes = distinct_samples(mbconv, 60, seed=3)
    rng = np.random.default_rng(0)

    def label(g):
        v = g.values()
        return 0.6 + 0.1 * v["width"] + 0.02 * sum(v[f"s{s}.depth"] for s in range(4)) + rng.normal(0, 0.005)

    labels = np.array([label(g) for g in genotypes])
    surrogate = RankingSurrogate(mbconv).fit(genotypes[:40], labels[:40])
    predicted = surrogate.predict(genotypes[40:])
    assert spearmanr(predicted, labels[40:]).statistic > 0.7
    assert np.abs(predicted - labels[40:]).mean() < 0.05  # the score is mapped back to accuracies
    estimate = surrogate.estimate(genotypes[45])
    assert estimate.value == pytest.approx(predicted[5]) and estimate.details["trained_on"] == 40


def test_surrogate_needs_training_points(mbconv):
    genotypes = distinct_samples(mbconv, 3, seed=0)
    with pytest.raises(NacosError, match="at least 4"):
        RankingSurrogate(mbconv).fit(genotypes, [0.5, 0.6, 0.7])
    with pytest.raises(NacosError, match="not fitted"):
        RankingSurrogate(mbconv).predict(genotypes)


# ------------------------------------------------------------------ CLI


@needs_fashion
def test_cli_prints_estimates_as_json(capsys):
    assert main(["accuracy", "nb201", "--seed", "2", "--estimators", "synflow,grad_norm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["estimator"] for e in out["estimates"]] == ["synflow", "grad_norm"]
    assert all(e["seconds"] > 0 and math.isfinite(e["value"]) for e in out["estimates"])


def test_cli_refuses_unknown_estimator_and_dataset(capsys):
    assert main(["accuracy", "mbconv", "--estimators", "zen"]) == 2
    assert main(["accuracy", "mbconv", "--estimators", "synflow", "--dataset", "cifar"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nacos: error: unknown estimator 'zen'; estimators: train, synflow, naswot, grad_norm",
                   "nacos: error: unknown dataset 'cifar'; datasets: fashion-mnist, digits"]
