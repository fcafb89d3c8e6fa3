"""The PyTorch DCGAN tutorial's own loop (shared/seeds/003, as written) against the backend.

Same canonical initial state, same real batches and noise: every logged number must agree."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
optim = torch.optim

from backends.pytorch import TorchBackend  # noqa: E402
from common.models import get_model  # noqa: E402
from common.parity import parity_inputs  # noqa: E402
from common.state import initial_state  # noqa: E402


# --- the tutorial's modules, verbatim but for the ngpu plumbing --------------------------------
class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False), nn.BatchNorm2d(512), nn.ReLU(True),
            nn.ConvTranspose2d(512, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.ReLU(True),
            nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(256, 512, 4, 2, 1, bias=False), nn.BatchNorm2d(512), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(512, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def _load(module, state, prefix):
    sd = module.state_dict()
    for key in sd:
        if key.endswith("num_batches_tracked"):
            continue
        sd[key] = torch.from_numpy(state[f"{prefix}.{key.removeprefix('main.')}"])
    module.load_state_dict(sd)


def tutorial_loop(state, inputs):
    netG, netD = Generator(), Discriminator()
    _load(netG, state, "G")
    _load(netD, state, "D")
    criterion = nn.BCELoss()
    real_label, fake_label = 1., 0.
    beta1 = 0.5
    optimizerD = optim.Adam(netD.parameters(), lr=0.0002, betas=(beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=0.0002, betas=(beta1, 0.999))
    logs = []
    for real, step_noise in inputs:  # "for i, data in enumerate(dataloader, 0):"
        netD.zero_grad()
        real_cpu = torch.from_numpy(real)
        b_size = real_cpu.size(0)
        label = torch.full((b_size,), real_label, dtype=torch.float)
        output = netD(real_cpu).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.from_numpy(step_noise.d)  # torch.randn(b_size, nz, 1, 1), supplied
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        logs.append((errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
    return logs


def test_backend_matches_the_tutorials_own_loop():
    spec = get_model("pytorch-celeba-dcgan")
    state = initial_state(spec, 7)
    inputs = parity_inputs(spec, steps=4, batch=8, seed=7)
    expected = tutorial_loop(state, inputs)
    be = TorchBackend(spec, "cpu")
    be.load_state(state)
    got = [be.read(be.step(real, noise)) for real, noise in inputs]
    got = [(s.d_loss, s.g_loss, s.d_x, s.d_g_z1, s.d_g_z2) for s in got]
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-6, atol=1e-7)
