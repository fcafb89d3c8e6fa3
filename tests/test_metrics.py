"""Quality metrics: zero for identical sets, larger for shifted ones, in the right order."""

import numpy as np
import pytest

from common.metrics import frechet_distance, quality, swd
from common.metrics import mnist_classifier as clf
from common.numpy_net import forward


def test_frechet_is_zero_for_identical_sets_and_exact_for_a_scaled_copy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8)) + 3.0
    assert abs(frechet_distance(a, a)) < 1e-8
    # b = 2a: μb = 2μa and Σb = 4Σa commute, so FD = |μa|² + tr(Σa)(1 + 4 − 2·2) = |μa|² + tr(Σa)
    expected = (a.mean(0) ** 2).sum() + np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, 2 * a) == pytest.approx(expected, rel=1e-9)


def test_frechet_grows_with_the_shift():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(2000, 16))
    same = frechet_distance(base, rng.normal(size=(2000, 16)))
    small = frechet_distance(base, rng.normal(size=(2000, 16)) + 0.25)
    large = frechet_distance(base, rng.normal(size=(2000, 16)) + 1.0)
    assert same < small < large
    assert large == pytest.approx(16 * 1.0, rel=0.1)


def _blobs(rng, n, shift=0.0, size=32):
    yy, xx = np.mgrid[:size, :size] / size
    cx, cy = rng.uniform(0.3, 0.7, (2, n, 1, 1))
    img = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02) * 2 - 1 + shift
    return np.clip(img, -1, 1)[:, None].astype(np.float32)


def test_swd_orders_shifted_distributions():
    rng = np.random.default_rng(2)
    ref = _blobs(rng, 200)
    same = swd(ref, _blobs(rng, 200))["mean"]
    mild = swd(ref, _blobs(rng, 200, shift=0.2))["mean"]
    strong = swd(ref, _blobs(rng, 200, shift=0.8))["mean"]
    noise = swd(ref, rng.uniform(-1, 1, ref.shape).astype(np.float32))["mean"]
    assert same < mild < strong
    assert same < noise
    out = swd(ref, ref)
    assert out["resolutions"] == [32, 16] and len(out["levels"]) == 2


def test_numpy_forward_matches_torch():
    torch = pytest.importorskip("torch")
    from backends.pytorch import build_net
    from benchmarks.classifier import initial_weights

    w = initial_weights(3)
    net = build_net(clf.CLASSIFIER).eval()
    with torch.no_grad():
        for name, t in net.state_dict().items():
            t.copy_(torch.from_numpy(w[f"C.{name}"]))
        x = np.random.default_rng(0).uniform(-1, 1, (7, 1, 28, 28)).astype(np.float32)
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(forward(clf.CLASSIFIER, w, "C", x), want, rtol=1e-4, atol=1e-5)


def test_classifier_is_at_least_99_percent_on_the_unseen_test_set(shared_data):
    from common.data.mnist import load_mnist

    test = load_mnist("test", shared_data, download=False, allow_hub=False)
    acc = clf.accuracy(test.images, test.labels)
    assert acc >= 0.99, acc
    counts = np.bincount(clf.predict(test.images[:2000]), minlength=10)
    assert (counts > 100).all()  # every digit is recognised: the histogram measures mode coverage


def test_quality_on_real_digits_versus_a_collapsed_generator(shared_data):
    from common.data.mnist import load_mnist

    x = load_mnist("test", shared_data, download=False, allow_hub=False).images
    real = x[:500].astype(np.float32)[:, None] / 127.5 - 1
    other = x[500:1000].astype(np.float32)[:, None] / 127.5 - 1
    ones = np.repeat(other[:1], 500, axis=0)  # one digit repeated: mode collapse
    good, bad = quality(real, other, (real, other)), quality(real, ones, (real, ones))
    assert good["frechet_mnist"] < bad["frechet_mnist"] and good["swd"]["mean"] < bad["swd"]["mean"]
    assert good["classes_covered"] == 10 and bad["classes_covered"] == 1
    assert sum(good["class_histogram"]) == 500
