"""A reproduction's checkpoints: checkpoints/epoch_NNN.npz, the canonical state after each epoch.

The newest `keep` up to the one reproduction.json names are kept. Older ones are deleted only after
the record naming the new one is on disk, so a kill at any point leaves the record's checkpoint.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from common.state import load_state, save_state

# test hook: "POINT:EPOCH" SIGKILLs itself at one point of an epoch's checkpoint rotation, POINT being
# "saved" (new checkpoint written, record not yet), "recorded" (record written, old checkpoints not
# yet deleted) or "rotated" (old checkpoints deleted)
KILL_AT_HOOK = "GANBENCH_KILL_AT"


class ResumeError(Exception):
    """--resume cannot continue; the message names the file and what to do."""


def kill_at(point: str, epoch: int) -> None:
    if os.environ.get(KILL_AT_HOOK) == f"{point}:{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)


class Checkpoints:
    def __init__(self, out: Path, keep: int, log=print):
        self.out, self.keep, self.log = out, keep, log
        self.folder = out / "checkpoints"

    def path(self, epoch: int) -> Path:
        return self.folder / f"epoch_{epoch:03d}.npz"

    def name(self, epoch: int) -> str:
        """The checkpoint's path as the record holds it (relative to the run's folder)."""
        return self.path(epoch).relative_to(self.out).as_posix()

    def save(self, epoch: int, state) -> str:
        """Write this epoch's checkpoint; returns its name for the record. Older ones stay until
        `rotate`, called once the record naming this one is written."""
        save_state(self.path(epoch), state)
        kill_at("saved", epoch)
        return self.name(epoch)

    def rotate(self, epoch: int, done: int) -> None:
        kill_at("recorded", epoch)
        self.prune(done)
        kill_at("rotated", epoch)

    def prune(self, done: int) -> None:
        """Keep the newest `keep` checkpoints up to epoch done-1 (the record's); a newer one (written
        before a kill, never recorded) is redone and overwritten, older ones go."""
        recorded = [p for p in sorted(self.folder.glob("epoch_*.npz")) if p.name <= self.path(done - 1).name]
        for p in recorded[: -self.keep]:
            p.unlink()

    def load_newest(self, done: int, load: Callable[[dict], None]) -> int:
        """Load (with `load`) the newest checkpoint up to epoch done-1 that loads; returns how many
        epochs it holds. A truncated or missing newest one is reported and the one before it tried."""
        problems = []
        for epoch in range(done - 1, -1, -1):
            ckpt = self.path(epoch)
            if not ckpt.exists():
                if epoch == done - 1:
                    problems.append(f"{ckpt} is missing")
                continue
            try:
                load(load_state(ckpt))
            except Exception as exc:  # np.load raises BadZipFile, EOFError, ValueError, OSError …
                problems.append(f"{ckpt} cannot be loaded ({type(exc).__name__}: {exc})")
                continue
            if problems:
                self.log(f"{'; '.join(problems)}; resuming from {ckpt.name} instead (epochs after it are redone)")
            return epoch + 1
        raise ResumeError(
            f"no checkpoint in {self.folder} loads ({'; '.join(problems) or 'none there'}); "
            f"run without --resume to start afresh"
        )
