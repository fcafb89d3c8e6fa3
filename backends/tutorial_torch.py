"""The PyTorch DCGAN tutorial's own networks and training loop, as the tutorial writes them.

Not a backend: the reference the suite's PyTorch numbers are held against — its losses (the tests
check the backend reproduces them) and its speed (`python -m benchmarks targets`: the harness's
eager mode must cost no more than this loop on the same device). Source: the PyTorch tutorial
"DCGAN Tutorial" (pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html), modules verbatim but
for the `ngpu` plumbing; the loop keeps its per-iteration `.item()` calls, as the tutorial runs.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn, optim


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False),
            nn.BatchNorm2d(512),
            nn.ReLU(True),
            nn.ConvTranspose2d(512, 256, 4, 2, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(True),
            nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(True),
            nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, 64, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 256, 4, 2, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(256, 512, 4, 2, 1, bias=False),
            nn.BatchNorm2d(512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(512, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def _load(module: nn.Module, state: dict[str, np.ndarray], prefix: str) -> None:
    sd = module.state_dict()
    for key in sd:
        if not key.endswith("num_batches_tracked"):
            sd[key] = torch.from_numpy(np.asarray(state[f"{prefix}.{key.removeprefix('main.')}"]))
    module.load_state_dict(sd)


class TutorialLoop:
    """The tutorial's iteration on `device`, from a canonical state; `step(real, noise)` returns its log
    line (errD, errG, D_x, D_G_z1, D_G_z2). noise None draws `torch.randn` on the device, as it does."""

    def __init__(self, state: dict[str, np.ndarray], device: str = "cpu"):
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # the harness turns the autotuner on too
        self.netG, self.netD = Generator().to(self.device), Discriminator().to(self.device)
        _load(self.netG, state, "G")
        _load(self.netD, state, "D")
        self.criterion = nn.BCELoss()
        self.optimizerD = optim.Adam(self.netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
        self.optimizerG = optim.Adam(self.netG.parameters(), lr=0.0002, betas=(0.5, 0.999))

    def step(self, real: np.ndarray, noise: np.ndarray | None = None) -> tuple[float, ...]:
        real_label, fake_label = 1.0, 0.0
        netD, netG, criterion = self.netD, self.netG, self.criterion
        netD.zero_grad()
        real_cpu = torch.from_numpy(real).to(self.device)
        b_size = real_cpu.size(0)
        label = torch.full((b_size,), real_label, dtype=torch.float, device=self.device)
        output = netD(real_cpu).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = (
            torch.randn(b_size, 100, 1, 1, device=self.device)
            if noise is None
            else torch.from_numpy(noise).to(self.device)
        )
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        self.optimizerD.step()
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optimizerG.step()
        return errD.item(), errG.item(), D_x, D_G_z1, D_G_z2

    def time(self, batches: list[np.ndarray], warmup: int) -> list[float]:
        """Seconds of each iteration after `warmup` ones, device synchronised (its .item() calls
        already wait for the GPU; the explicit synchronise makes the clock honest regardless)."""
        times = []
        for k, real in enumerate(batches):
            t0 = time.perf_counter()
            self.step(real)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            if k >= warmup:
                times.append(time.perf_counter() - t0)
        return times
