"""The five reference models, each as the tutorial it reproduces wrote it.

Ids are stable: they appear in result files and reports. Where a tutorial relies on a framework
default, the value used here and where it was checked are written next to it.
"""

from __future__ import annotations

from common.spec import (
    Act,
    Adam,
    BatchNorm,
    Conv2d,
    ConvTranspose2d,
    DataSpec,
    Dense,
    Flatten,
    MaxPool2d,
    ModelSpec,
    NetSpec,
    Noise,
    Recipe,
    Reshape,
    RunLength,
    framework_default,
    normal,
)

RELU, TANH, SIGMOID = Act("relu"), Act("tanh"), Act("sigmoid")


def leaky(slope: float) -> Act:
    return Act("leaky_relu", slope)


# --- 1. Paddle book 09.gan, DCGAN on MNIST 28x28 (seed 000) -------------------------------------
# fluid defaults (checked in Paddle 1.x source): fc/conv2d_transpose weights Xavier-uniform,
# conv2d weights Normal(0, sqrt(2 / (k*k*C_in))), biases 0; batch_norm scale 1, shift 0,
# momentum 0.9, epsilon 1e-5; the leaky_relu op's default alpha, used by act='leaky_relu', is 0.02.
PADDLE_INIT = framework_default("paddle-fluid")
FLUID_LEAKY = 0.02


def _pd_dense(n: int) -> Dense:
    return Dense(n, weight_init=PADDLE_INIT, bias_init=PADDLE_INIT)


def _pd_conv(c: int) -> Conv2d:
    return Conv2d(c, 5, weight_init=PADDLE_INIT, bias_init=PADDLE_INIT)


def _pd_deconv(c: int) -> ConvTranspose2d:
    # fluid's output_size=[14,14] / [28,28] with k5 s2 p2 (natural 13 / 27): one extra row/column.
    return ConvTranspose2d(c, 5, stride=2, padding=2, output_padding=1, weight_init=PADDLE_INIT, bias_init=PADDLE_INIT)


PADDLE_DCGAN28 = ModelSpec(
    name="paddle-dcgan28",
    title="Paddle book DCGAN (MNIST 28×28)",
    framework="paddle",
    source="PaddlePaddle book, 09.gan (dc_gan.py): https://github.com/PaddlePaddle/book/tree/develop/09.gan",
    generator=NetSpec(
        (100,),
        (
            _pd_dense(2048),
            BatchNorm(1),
            RELU,
            _pd_dense(128 * 7 * 7),
            BatchNorm(1),
            RELU,
            Reshape((128, 7, 7)),
            _pd_deconv(128),
            RELU,  # no BN on this layer in the tutorial
            _pd_deconv(1),
            TANH,
            Flatten(),
        ),
    ),
    discriminator=NetSpec(
        (784,),
        (
            Reshape((1, 28, 28)),
            _pd_conv(64),
            leaky(FLUID_LEAKY),
            MaxPool2d(2, 2),  # simple_img_conv_pool: conv+act, then pool
            _pd_conv(128),
            MaxPool2d(2, 2),
            BatchNorm(2),
            leaky(FLUID_LEAKY),
            Flatten(),
            _pd_dense(1024),
            BatchNorm(1),
            leaky(FLUID_LEAKY),
            _pd_dense(1),
            SIGMOID,
        ),
    ),
    recipe=Recipe(
        noise=Noise("uniform", (100,), low=-1.0, high=1.0),
        d_update="separate_fake_then_real",
        d_pass_order="fake_first",
        g_updates=2,
        g_input="fresh_noise",
        loss="bce_logits_on_prob",  # sigmoid_cross_entropy_with_logits on D's sigmoid output
        real_label=1.0,
        fake_label=0.0,
        # fluid Adam defaults, and fluid's Adam kernel
        opt_g=Adam(2e-4, 0.9, 0.999, 1e-8, form="paddle-fluid"),
        opt_d=Adam(2e-4, 0.9, 0.999, 1e-8, form="paddle-fluid"),
    ),
    data=DataSpec(
        "mnist-train",
        (1, 28, 28),
        "none",
        "keep",
        "x/255*2-1",
        flatten=True,
        batch_size=128,
        order="shuffle_each_epoch",
        order_seed=None,
        last_batch="drop",
    ),
    run=RunLength(epochs=20, log_every=10, image_every=10, grid_noise=128),
    notes=(
        "The loss applies the sigmoid twice (D's sigmoid, then BCE-with-logits): faithful mode keeps it.",
        "The G updates see D in training mode: D's BatchNorm statistics move during G steps too.",
    ),
)

# --- 2. MindSpore "GAN for Image Generation", MLP GAN on MNIST (seed 001) ----------------------
# MindSpore 2.x Dense defaults: weight HeUniform(negative_slope=sqrt(5)), bias U(±1/sqrt(in)) —
# the same rule as torch.nn.Linear (2.0 used Normal(0.01)/zeros). BatchNorm1d: γ 1, β 0, momentum
# 0.9 (kept fraction), eps 1e-5. The tutorial's LeakyReLU() relies on the default slope 0.2, which
# the 2.9–2.11 docs announce will become 0.01: it is explicit here. BCELoss adds 1e-12 inside its logs.
MS_INIT = framework_default("mindspore")


def _ms_dense(n: int) -> Dense:
    return Dense(n, weight_init=MS_INIT, bias_init=MS_INIT)


MINDSPORE_MLP_GAN = ModelSpec(
    name="mindspore-mlp-gan",
    title="MindSpore MLP GAN (MNIST)",
    framework="mindspore",
    source=(
        "MindSpore tutorial 'GAN for Image Generation' (r2.6): "
        "https://gitee.com/mindspore/docs/blob/r2.6.0rc1/tutorials/source_en/generative/gan.md"
    ),
    generator=NetSpec(
        (100,),
        (
            _ms_dense(128),
            RELU,
            _ms_dense(256),
            BatchNorm(1),
            RELU,
            _ms_dense(512),
            BatchNorm(1),
            RELU,
            _ms_dense(1024),
            BatchNorm(1),
            RELU,
            _ms_dense(784),
            TANH,
            Reshape((1, 28, 28)),
        ),
    ),
    discriminator=NetSpec(
        (1, 28, 28),
        (
            Flatten(),
            _ms_dense(512),
            leaky(0.2),
            _ms_dense(256),
            leaky(0.2),
            _ms_dense(1),
            SIGMOID,
        ),
    ),
    recipe=Recipe(
        noise=Noise("normal", (100,)),
        d_update="summed",
        d_pass_order="fake_first",  # discriminator_forward scores the fake first
        g_updates=1,
        g_input="recompute_same_z",
        loss="bce_prob",
        real_label=1.0,
        fake_label=0.0,
        opt_g=Adam(2e-4, 0.5, 0.999, 1e-8, form="mindspore"),
        opt_d=Adam(2e-4, 0.5, 0.999, 1e-8, form="mindspore"),
    ),
    data=DataSpec(
        "mnist-train",
        (1, 28, 28),
        "none",
        "keep",
        "(x-127.5)/127.5",
        flatten=False,
        batch_size=128,
        order="shuffle_each_epoch",
        order_seed=None,
        last_batch="drop",
    ),
    run=RunLength(epochs=200, log_every=10, image_every=0, grid_noise=25, grid_noise_seed=2323),
    notes=(
        "Published anchor: epoch 0 step 0 loss_d 1.384, loss_g 0.693; epochs 99–199 loss_d ≈ 1.17–1.28, "
        "loss_g ≈ 0.90–1.07.",
    ),
)

# --- 3. MXNet Module-API DCGAN, MNIST at 64x64 (seed 002) --------------------------------------
MX_EPS = 1e-5 + 1e-12  # the tutorial's epsilon (cuDNN wants > 1e-5)


def _mx_bn() -> BatchNorm:
    return BatchNorm(2, momentum=0.9, eps=MX_EPS, gamma="fixed")


def _deconv(c: int, k: int = 4, s: int = 2, p: int = 1) -> ConvTranspose2d:
    return ConvTranspose2d(c, k, stride=s, padding=p, bias=False, weight_init=normal(0.02))


def _conv(c: int, k: int = 4, s: int = 2, p: int = 1) -> Conv2d:
    return Conv2d(c, k, stride=s, padding=p, bias=False, weight_init=normal(0.02))


MXNET_DCGAN64 = ModelSpec(
    name="mxnet-dcgan64",
    title="MXNet Module DCGAN (MNIST 64×64)",
    framework="mxnet",
    source=(
        "MXNet tutorial 'Generative Adversarial Networks' (Module API, MXNet 1.x docs, "
        "docs/tutorials/unsupervised_learning/gan.md in apache/mxnet)"
    ),
    generator=NetSpec(
        (100, 1, 1),
        (
            _deconv(1024, s=1, p=0),
            _mx_bn(),
            RELU,
            _deconv(512),
            _mx_bn(),
            RELU,
            _deconv(256),
            _mx_bn(),
            RELU,
            _deconv(128),
            _mx_bn(),
            RELU,
            _deconv(3),
            TANH,
        ),
    ),
    discriminator=NetSpec(
        (3, 64, 64),
        (
            _conv(128),
            leaky(0.2),
            _conv(256),
            _mx_bn(),
            leaky(0.2),
            _conv(512),
            _mx_bn(),
            leaky(0.2),
            _conv(1024),
            _mx_bn(),
            leaky(0.2),
            _conv(1, s=1, p=0),
            Flatten(),  # then LogisticRegressionOutput: sigmoid + BCE-with-logits gradient
        ),
    ),
    recipe=Recipe(
        noise=Noise("normal", (100, 1, 1)),
        d_update="summed",
        d_pass_order="fake_first",  # fake fwd/bwd, keep grads, real fwd/bwd, add, update
        g_updates=1,
        g_input="same_fake",  # D's input gradient on the same fake drives G's backward
        loss="bce_logits",
        real_label=1.0,
        fake_label=0.0,
        opt_g=Adam(2e-4, 0.5, 0.999, 1e-8, form="mxnet"),
        opt_d=Adam(2e-4, 0.5, 0.999, 1e-8, form="mxnet"),
    ),
    # fetch_mldata's 'MNIST original' rows: train then test, each sorted by digit (order within a
    # digit unknown): "mnist-all" is that order, built from the IDX files by a stable sort.
    data=DataSpec(
        "mnist-all",
        (3, 64, 64),
        "cv2-bilinear",
        "tile-to-3",
        "x/(255/2)-1",
        flatten=False,
        batch_size=64,
        order="fixed_permutation",
        order_seed=1,
        last_batch="pad_wrap",
    ),
    run=RunLength(epochs=1, log_every=50, image_every=50, grid_noise=64),
    notes=(
        "Module's rescale_grad = 1/batch makes the summed per-sample gradients a mean: losses here are means.",
        "BatchNorm γ is fixed at 1 (fix_gamma=True) in G and D.",
    ),
)

# --- 4. Gluon DCGAN on LFW faces (seed 004) ----------------------------------------------------
GLUON_LFW_DCGAN = ModelSpec(
    name="gluon-lfw-dcgan",
    title="Gluon DCGAN (LFW faces 64×64)",
    framework="mxnet",
    source="Gluon tutorial 生成对抗网络 GAN (DCGAN on LFW), discussed at https://discuss.gluon.ai/t/topic/6405",
    generator=NetSpec(
        (100, 1, 1),
        (
            _deconv(512, s=1, p=0),
            BatchNorm(2),
            RELU,
            _deconv(256),
            BatchNorm(2),
            RELU,
            _deconv(128),
            BatchNorm(2),
            RELU,
            _deconv(64),
            BatchNorm(2),
            RELU,
            _deconv(3),
            TANH,
        ),
    ),
    discriminator=NetSpec(
        (3, 64, 64),
        (
            _conv(64),
            leaky(0.2),
            _conv(128),
            BatchNorm(2),
            leaky(0.2),
            _conv(256),
            BatchNorm(2),
            leaky(0.2),
            _conv(512),
            BatchNorm(2),
            leaky(0.2),
            _conv(1, s=1, p=0),  # logits; SigmoidBinaryCrossEntropyLoss applies the sigmoid
        ),
    ),
    recipe=Recipe(
        noise=Noise("normal", (100, 1, 1)),
        d_update="summed",
        d_pass_order="real_first",
        g_updates=1,
        g_input="recompute_same_z",
        loss="bce_logits",
        real_label=1.0,
        fake_label=0.0,
        opt_g=Adam(2e-4, 0.5, 0.999, 1e-8, form="mxnet"),
        opt_d=Adam(2e-4, 0.5, 0.999, 1e-8, form="mxnet"),
    ),
    data=DataSpec(
        "lfw-deepfunneled",
        (3, 64, 64),
        "cv2-bilinear",
        "keep",
        "x/127.5-1",
        flatten=False,
        batch_size=64,
        order="file_order",
        order_seed=None,
        last_batch="pad_wrap",
    ),
    run=RunLength(epochs=2, log_every=10, image_every=0, grid_noise=8),
    notes=("The tutorial's 'binary training acc' thresholds raw logits at 0.5 (a quirk); not reproduced.",),
)

# --- 5. PyTorch DCGAN faces tutorial on CelebA (seed 003) --------------------------------------
PYTORCH_CELEBA_DCGAN = ModelSpec(
    name="pytorch-celeba-dcgan",
    title="PyTorch DCGAN (CelebA faces 64×64)",
    framework="torch",
    source="PyTorch tutorial 'DCGAN Tutorial': https://pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html",
    generator=NetSpec(
        (100, 1, 1),
        (
            _deconv(512, s=1, p=0),
            BatchNorm(2, gamma_init=normal(0.02, mean=1.0)),
            RELU,
            _deconv(256),
            BatchNorm(2, gamma_init=normal(0.02, mean=1.0)),
            RELU,
            _deconv(128),
            BatchNorm(2, gamma_init=normal(0.02, mean=1.0)),
            RELU,
            _deconv(64),
            BatchNorm(2, gamma_init=normal(0.02, mean=1.0)),
            RELU,
            _deconv(3),
            TANH,
        ),
    ),
    discriminator=NetSpec(
        (3, 64, 64),
        (
            _conv(64),
            leaky(0.2),
            _conv(128),
            BatchNorm(2, gamma_init=normal(0.02, mean=1.0)),
            leaky(0.2),
            _conv(256),
            BatchNorm(2, gamma_init=normal(0.02, mean=1.0)),
            leaky(0.2),
            _conv(512),
            BatchNorm(2, gamma_init=normal(0.02, mean=1.0)),
            leaky(0.2),
            _conv(1, s=1, p=0),
            SIGMOID,
        ),
    ),
    recipe=Recipe(
        noise=Noise("normal", (100, 1, 1)),
        d_update="summed",
        d_pass_order="real_first",
        g_updates=1,
        g_input="same_fake",
        loss="bce_prob",
        real_label=1.0,
        fake_label=0.0,
        opt_g=Adam(2e-4, 0.5, 0.999, 1e-8, form="torch"),
        opt_d=Adam(2e-4, 0.5, 0.999, 1e-8, form="torch"),
    ),
    data=DataSpec(
        "celeba-aligned",
        (3, 64, 64),
        "pil-short-side-bilinear-center-crop",
        "keep",
        "(x/255-0.5)/0.5",
        flatten=False,
        batch_size=128,
        order="shuffle_each_epoch",
        order_seed=None,
        last_batch="keep_short",
    ),
    # The seed text states no epoch count; the upstream tutorial uses 5 and logs every 50 iterations.
    run=RunLength(epochs=5, log_every=50, image_every=500, grid_noise=64),
)

MODELS: dict[str, ModelSpec] = {
    m.name: m for m in (PADDLE_DCGAN28, MINDSPORE_MLP_GAN, MXNET_DCGAN64, GLUON_LFW_DCGAN, PYTORCH_CELEBA_DCGAN)
}


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


# What the tutorials themselves report, shown beside a reproduction's numbers. Only the MindSpore
# tutorial publishes a training log with losses late in the run.
PUBLISHED: dict[str, dict] = {
    "mindspore-mlp-gan": {
        "source": "the tutorial's printed log (epochs 99–199)",
        "from_epoch": 99,
        "loss_d": [1.17, 1.28],
        "loss_g": [0.90, 1.07],
        "first_step": {"loss_d": 1.384, "loss_g": 0.693},
    },
}
