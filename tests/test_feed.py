"""Batch order, pixel maps and noise: deterministic, resumable, as each tutorial orders data."""

import dataclasses

import numpy as np
import pytest

from common.feed import Feed, draw_noise, epoch_batches, fixed_noise, to_float
from common.models import get_model
from common.parity import SmoothSource


def _data(name, **kw):
    return dataclasses.replace(get_model(name).data, **kw)


def test_drop_pad_wrap_and_keep_short():
    n = 10
    drop = epoch_batches(_data("mindspore-mlp-gan", batch_size=4), n, 0, 0)
    assert [len(b) for b in drop] == [4, 4]
    pad = epoch_batches(_data("gluon-lfw-dcgan", batch_size=4), n, 0, 0)
    assert [b.tolist() for b in pad] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]]  # NDArrayIter 'pad'
    short = epoch_batches(_data("pytorch-celeba-dcgan", batch_size=4), n, 0, 0)
    assert [len(b) for b in short] == [4, 4, 2]
    assert sorted(np.concatenate(short).tolist()) == list(range(n))


def test_fixed_permutation_is_the_tutorials_legacy_rng():
    data = _data("mxnet-dcgan64", batch_size=7)
    np.random.seed(1)
    expected = np.random.permutation(70)
    got = np.concatenate(epoch_batches(data, 70, 0, seed=123))
    assert np.array_equal(got, expected)
    assert np.array_equal(got, np.concatenate(epoch_batches(data, 70, 5, seed=9)))  # every epoch alike


def test_shuffle_differs_per_epoch_and_seed_but_is_reproducible():
    data = _data("mindspore-mlp-gan", batch_size=5)
    e0 = np.concatenate(epoch_batches(data, 50, 0, 0))
    assert np.array_equal(e0, np.concatenate(epoch_batches(data, 50, 0, 0)))
    assert not np.array_equal(e0, np.concatenate(epoch_batches(data, 50, 1, 0)))
    assert not np.array_equal(e0, np.concatenate(epoch_batches(data, 50, 0, 1)))
    assert sorted(e0.tolist()) == list(range(50))


@pytest.mark.parametrize("pixel_map", ["x/127.5-1", "(x-127.5)/127.5", "x/255*2-1", "x/(255/2)-1", "(x/255-0.5)/0.5"])
def test_pixel_maps_send_0_and_255_to_minus_one_and_one(pixel_map):
    x = np.array([0, 255, 128], np.uint8)
    y = to_float(x, pixel_map)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [-1, 1, 128 / 127.5 - 1], atol=1e-6)


def test_noise_follows_the_recipe():
    rng = np.random.default_rng(0)
    u = draw_noise(get_model("paddle-dcgan28").recipe.noise, 4096, rng)
    assert u.shape == (4096, 100) and u.min() >= -1 and u.max() <= 1 and abs(u.mean()) < 0.01
    z = draw_noise(get_model("mxnet-dcgan64").recipe.noise, 512, rng)
    assert z.shape == (512, 100, 1, 1) and abs(z.std() - 1) < 0.02


def test_iteration_inputs_can_be_rebuilt_without_replay():
    spec = get_model("paddle-dcgan28")
    feed = Feed(spec, SmoothSource(spec.data.image_shape, 40), seed=5, batch_size=8)
    run = feed.iterate()
    seen = [next(run) for _ in range(12)]  # 5 batches an epoch: crosses into epoch 2
    assert [(e, i) for e, i, _, _ in seen][4:7] == [(0, 4), (1, 0), (1, 1)]
    e, i, real, noise = seen[7]
    resumed = next(Feed(spec, SmoothSource(spec.data.image_shape, 40), seed=5, batch_size=8).iterate(e, i))
    assert np.array_equal(resumed[2], real) and np.array_equal(resumed[3].d, noise.d)
    assert len(noise.g) == 2 and not np.array_equal(noise.g[0], noise.g[1])  # fresh noise per G update
    assert real.shape == (8, 784)  # the Paddle book feeds flat vectors
    assert Feed(get_model("mindspore-mlp-gan"), SmoothSource((1, 28, 28), 16), 0, 8).noise(0, 0, 8).g == ()


def test_fixed_noise_uses_the_tutorials_own_seed():
    z = fixed_noise(get_model("mindspore-mlp-gan"))
    np.random.seed(2323)
    assert np.array_equal(z, np.random.normal(size=(25, 100)).astype(np.float32))
    assert fixed_noise(get_model("pytorch-celeba-dcgan")).shape == (64, 100, 1, 1)
