"""Parameter counts against the tutorials' own architectures, FLOPs against torch's counter."""

import pytest

from common.analysis import forward_flops, infer_shapes, iteration_flops, param_count
from common.models import MODELS, get_model


def _bn(c):
    return 2 * c  # γ and β


# Counts written out from each tutorial's layer list (seeds/), independently of the spec.
def _paddle():
    g = (100 * 2048 + 2048) + _bn(2048) + (2048 * 6272 + 6272) + _bn(6272) + (128 * 128 * 25 + 128) + (128 * 25 + 1)
    d = (1 * 64 * 25 + 64) + (64 * 128 * 25 + 128) + _bn(128) + (2048 * 1024 + 1024) + _bn(1024) + (1024 + 1)
    return g, d


def _mindspore():
    g = (
        (100 * 128 + 128)
        + (128 * 256 + 256)
        + _bn(256)
        + (256 * 512 + 512)
        + _bn(512)
        + (512 * 1024 + 1024)
        + _bn(1024)
        + (1024 * 784 + 784)
    )
    d = (784 * 512 + 512) + (512 * 256 + 256) + (256 + 1)
    return g, d


def _mxnet():  # fix_gamma: γ exists but is not trained
    g = 16 * (100 * 1024 + 1024 * 512 + 512 * 256 + 256 * 128 + 128 * 3) + (1024 + 512 + 256 + 128)
    d = 16 * (3 * 128 + 128 * 256 + 256 * 512 + 512 * 1024 + 1024) + (256 + 512 + 1024)
    return g, d


def _dcgan(ngf=64, ndf=64):
    g = (
        16 * (100 * ngf * 8 + ngf * 8 * ngf * 4 + ngf * 4 * ngf * 2 + ngf * 2 * ngf + ngf * 3)
        + _bn(ngf * 8)
        + _bn(ngf * 4)
        + _bn(ngf * 2)
        + _bn(ngf)
    )
    d = (
        16 * (3 * ndf + ndf * ndf * 2 + ndf * 2 * ndf * 4 + ndf * 4 * ndf * 8 + ndf * 8)
        + _bn(ndf * 2)
        + _bn(ndf * 4)
        + _bn(ndf * 8)
    )
    return g, d


@pytest.mark.parametrize(
    "name, expected, fixed",
    [
        ("paddle-dcgan28", _paddle(), (0, 0)),
        ("mindspore-mlp-gan", _mindspore(), (0, 0)),
        ("mxnet-dcgan64", _mxnet(), (1024 + 512 + 256 + 128, 256 + 512 + 1024)),
        ("gluon-lfw-dcgan", _dcgan(), (0, 0)),
        ("pytorch-celeba-dcgan", _dcgan(), (0, 0)),
    ],
)
def test_parameter_counts_match_the_tutorials(name, expected, fixed):
    spec = get_model(name)
    g, d = param_count(spec.generator), param_count(spec.discriminator)
    assert (g.trainable, d.trainable) == expected
    assert (g.fixed, d.fixed) == fixed


def test_pytorch_tutorial_published_counts():
    # the PyTorch DCGAN tutorial's netG / netD are widely quoted at these sizes
    spec = get_model("pytorch-celeba-dcgan")
    assert param_count(spec.generator).trainable == 3_576_704
    assert param_count(spec.discriminator).trainable == 2_765_568


def test_shapes_follow_the_tutorials():
    assert infer_shapes(get_model("paddle-dcgan28").generator)[8] == (128, 14, 14)  # forced 14×14
    assert infer_shapes(get_model("paddle-dcgan28").discriminator)[4] == (64, 12, 12)
    assert [s[1] for s in infer_shapes(get_model("mxnet-dcgan64").generator)[1::3]] == [4, 8, 16, 32, 64]


@pytest.mark.parametrize("name", list(MODELS))
def test_matmul_flops_match_torch_flop_counter(name):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from backends.pytorch import build_net

    spec = get_model(name)
    for net in (spec.generator, spec.discriminator):
        module = build_net(net).eval()
        with FlopCounterMode(display=False) as counter:
            module(torch.zeros(2, *net.input_shape))
        # torch counts multiply-accumulates of conv/linear as 2 FLOPs and ignores bias adds and
        # element-wise layers: compare like with like
        assert forward_flops(net, 2, elementwise=False, bias=False) == counter.get_total_flops()


def test_iteration_flops_count_every_pass():
    spec = get_model("mindspore-mlp-gan")
    g, d = forward_flops(spec.generator, 128), forward_flops(spec.discriminator, 128)
    # D step: G forward, D fwd+bwd on real and fake; G step: G again, D fwd+bwd, G bwd
    assert iteration_flops(spec) == g + 2 * 3 * d + (g + 3 * d + 2 * g)
    paddle = get_model("paddle-dcgan28")
    g, d = forward_flops(paddle.generator, 128), forward_flops(paddle.discriminator, 128)
    assert iteration_flops(paddle) == g + 6 * d + 2 * (g + 3 * d + 2 * g)
