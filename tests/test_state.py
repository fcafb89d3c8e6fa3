"""The canonical state: layout, initialisers, atomic files."""

import math

import numpy as np
import pytest

from common.models import MODELS, get_model
from common.state import check_state, initial_state, load_state, param_keys, save_state, state_shapes


@pytest.mark.parametrize("name", list(MODELS))
def test_initial_state_fits_layout_and_is_seeded(name):
    spec = get_model(name)
    a, b, c = initial_state(spec, 0), initial_state(spec, 0), initial_state(spec, 1)
    check_state(spec, a)
    assert set(a) == set(state_shapes(spec))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a if k.endswith("weight"))
    assert all(a[k].dtype == np.float32 for k in a if not k.endswith(".step"))
    assert all(int(a[k]) == 0 for k in a if k.endswith(".step"))


def test_torch_layouts_of_each_layer_type():
    s = state_shapes(get_model("paddle-dcgan28"))
    assert s["G.0.weight"] == (2048, 100)  # Dense (out, in)
    assert s["G.7.weight"] == (128, 128, 5, 5)  # ConvTranspose2d (in, out, kH, kW)
    assert s["G.9.weight"] == (128, 1, 5, 5)
    assert s["D.1.weight"] == (64, 1, 5, 5)  # Conv2d (out, in, kH, kW)
    assert s["D.6.running_var"] == (128,)
    assert s["opt.D.9.weight.m"] == (1024, 2048)


def test_fixed_gamma_has_no_optimiser_moments_and_stays_one():
    spec = get_model("mxnet-dcgan64")
    st = initial_state(spec, 0)
    assert "G.1.weight" in st and "opt.G.1.weight.m" not in st and "opt.G.1.bias.m" in st
    assert np.all(st["G.1.weight"] == 1)
    assert "G.1.weight" not in param_keys(spec, "G", trainable_only=True)


def test_initialisers_draw_the_right_distributions():
    celeba = initial_state(get_model("pytorch-celeba-dcgan"), 3)
    w = celeba["G.0.weight"]
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3  # N(0, 0.02)
    gamma = np.concatenate([celeba[f"G.{i}.weight"] for i in (1, 4, 7, 10)])
    assert abs(gamma.mean() - 1.0) < 5e-3 and abs(gamma.std() - 0.02) < 3e-3  # N(1, 0.02)
    assert np.all(celeba["G.1.bias"] == 0)

    paddle = initial_state(get_model("paddle-dcgan28"), 3)
    limit = math.sqrt(6 / (100 + 2048))  # fluid fc: Xavier uniform
    assert np.abs(paddle["G.0.weight"]).max() <= limit and np.abs(paddle["G.0.weight"]).max() > 0.95 * limit
    assert abs(paddle["D.1.weight"].std() - math.sqrt(2 / 25)) < 0.02  # fluid conv2d: N(0, √(2/k²C))
    assert np.all(paddle["G.0.bias"] == 0)

    ms = initial_state(get_model("mindspore-mlp-gan"), 3)
    bound = 1 / math.sqrt(784)  # HeUniform(√5) = U(±1/√fan_in)
    assert np.abs(ms["D.1.weight"]).max() <= bound and np.abs(ms["D.1.weight"]).max() > 0.99 * bound
    assert np.abs(ms["D.1.bias"]).max() <= bound and ms["D.1.bias"].std() > 0


def test_check_state_names_every_problem():
    spec = get_model("mindspore-mlp-gan")
    st = initial_state(spec, 0)
    del st["G.0.bias"]
    st["D.1.weight"] = np.zeros((3, 3), np.float32)
    st["bogus"] = np.zeros(1)
    with pytest.raises(ValueError) as e:
        check_state(spec, st)
    msg = str(e.value)
    assert "missing G.0.bias" in msg and "D.1.weight: shape (3, 3)" in msg and "unexpected bogus" in msg


def test_save_and_load_round_trip_atomically(tmp_path):
    spec = get_model("gluon-lfw-dcgan")
    st = initial_state(spec, 0)
    path = tmp_path / "deep" / "state.npz"
    save_state(path, st)
    back = load_state(path)
    assert set(back) == set(st) and all(np.array_equal(back[k], st[k]) for k in st)
    assert [p.name for p in path.parent.iterdir()] == ["state.npz"]  # no temporary file left behind
