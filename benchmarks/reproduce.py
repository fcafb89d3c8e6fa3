"""`python -m benchmarks reproduce MODEL`: a tutorial's full training, on real data, resumable.

Writes into OUT (default results/reproduce/MODEL__BACKEND/):
  reproduction.json      status, per-step and per-epoch losses, metrics per epoch (schema
                         ganbench-reproduction), rewritten atomically at every epoch end
  checkpoints/           canonical state after each epoch (the last `keep` are kept)
  grids/epoch_NNN.png    the progress grid from the tutorial's fixed noise, every epoch
  progress.gif           those grids animated; losses.png the loss curves

Inputs come from common.feed in parity mode (noise supplied, not drawn by the framework), so
iteration (e, i) sees the same batch and noise whether or not the run was interrupted: `--resume`
continues from the last checkpoint and its losses continue the interrupted run's.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.plan import resolve_batch, resolve_device, resolve_mode
from common.env import machine_env, now_iso
from common.feed import Feed, draw_noise, fixed_noise
from common.grid import save_grid
from common.adam import adam_form_of, with_adam_form
from common.models import PUBLISHED, get_model
from common.results import REPRO_SCHEMA, read_json, write_json_atomic
from common.state import initial_state, load_state, save_state

SCHEMA = REPRO_SCHEMA
KILL_HOOK = "GANBENCH_KILL_AFTER_EPOCH"  # test hook: SIGKILL itself once this epoch's checkpoint is written
# test hook: "POINT:EPOCH" SIGKILLs itself at one point of an epoch's checkpoint rotation, POINT being
# "saved" (new checkpoint written, record not yet), "recorded" (record written, old checkpoints not
# yet deleted) or "rotated" (old checkpoints deleted)
KILL_AT_HOOK = "GANBENCH_KILL_AT"
NAN_HOOK = "GANBENCH_PLANT_NAN"  # test hook: "E:I" feeds a NaN batch at epoch E, iteration I
COLLAPSE_STD = 0.01  # mean per-pixel std over the fixed-noise samples below this: a collapsed generator
METRIC_NOISE_SEED = 4242


class ResumeError(Exception):
    """--resume cannot continue; the message names the file and what to do."""


class Subset:
    """The first n images of a source: a smoke-test-sized epoch (recorded in the result)."""

    def __init__(self, source, n: int):
        self.source, self.n = source, min(n, len(source))
        self.kind, self.dataset = source.kind, source.dataset
        self.description = f"first {self.n} of: {source.description}"

    def __len__(self):
        return self.n

    def get(self, indices):
        return self.source.get(indices)


def default_backend(spec) -> str:
    return spec.framework


def _mnist_view(images: np.ndarray, spec) -> np.ndarray:
    """Samples as 28×28 greyscale for the MNIST classifier (64×64 tiled MNIST is resized back)."""
    import cv2

    c, h, w = spec.data.image_shape
    x = np.asarray(images, np.float32).reshape(-1, c, h, w)[:, 0]
    if (h, w) != (28, 28):
        x = np.stack([cv2.resize(img, (28, 28), interpolation=cv2.INTER_AREA) for img in x])
    return x


class Reproduction:
    def __init__(self, model: str, backend: str | None = None, device: str = "auto", epochs: int | None = None,
                 out: str | None = None, data_dir=None, cache_dir=None, download: bool = True, seed: int = 0,
                 subset: int | None = None, batch_size: int | None = None, metric_samples: int = 1000,
                 keep: int = 3, log=print, mode: str | None = None, adam_form: str | None = None):
        from backends import load_backend

        # the tutorial's own Adam form unless `adam_form` overrides it (an experiment, recorded)
        self.spec = with_adam_form(get_model(model), adam_form)
        self.backend_name = backend or default_backend(self.spec)
        cls = load_backend(self.backend_name)
        self.device = resolve_device(device, cls, driver=False)
        self.epochs = epochs or self.spec.run.epochs
        self.out = Path(out or f"results/reproduce/{model}__{self.backend_name}")
        self.seed, self.keep, self.log, self.metric_samples = seed, keep, log, metric_samples
        from benchmarks.runner import open_source

        source = open_source(self.spec, "real", data_dir, cache_dir, download, log=log)
        self.source = Subset(source, subset) if subset else source
        self.feed = Feed(self.spec, self.source, seed, resolve_batch(self.spec, batch_size))
        self.backend = cls(self.spec, self.device, resolve_mode(cls, self.spec, self.device, mode), seed=seed)
        self._placed = False
        self.fixed = fixed_noise(self.spec, seed=seed)
        self.record = self._new_record(subset)

    # --- bookkeeping --------------------------------------------------------------------------------
    def _new_record(self, subset) -> dict:
        return {"schema": SCHEMA, "schema_version": 1, "model": self.spec.name, "backend": self.backend_name,
                "device": self.device, "mode": self.backend.mode, "status": "running", "error": None,
                "epochs_planned": self.epochs, "epochs_done": 0, "iterations_per_epoch": self.feed.iterations_per_epoch(),
                "batch_size": self.feed.batch_size, "seed": self.seed, "subset": subset,
                "adam_form": adam_form_of(self.spec),
                "data_source": self.source.kind, "data_detail": self.source.description,
                "losses": {"d": [], "g": [], "epoch": []}, "epoch_losses": [], "metrics": [],
                "published": PUBLISHED.get(self.spec.name), "grids": [], "checkpoint": None,
                "spec_hash": self.spec.spec_hash(), "env": {**machine_env(), **self.backend.info()},
                "started_at": now_iso(), "finished_at": None, "seconds": 0.0}

    def _save_record(self) -> None:
        write_json_atomic(self.out / "reproduction.json", self.record)

    def _checkpoint(self, epoch: int) -> Path:
        """Write this epoch's checkpoint. Older ones are deleted by _rotate only after the record
        that names this one is on disk, so a kill at any point leaves the record's checkpoint."""
        path = self.out / "checkpoints" / f"epoch_{epoch:03d}.npz"
        save_state(path, self.backend.export_state())
        self._maybe_kill("saved", epoch)
        return path

    def _rotate(self, epoch: int) -> None:
        self._maybe_kill("recorded", epoch)
        self._prune()
        self._maybe_kill("rotated", epoch)

    def _prune(self) -> None:
        """Keep the newest `keep` checkpoints up to the record's; a newer one (written before a
        kill, never recorded) is redone and overwritten, older ones go."""
        done = self.record.get("epochs_done") or 0
        ckpts = sorted((self.out / "checkpoints").glob("epoch_*.npz"))
        recorded = [p for p in ckpts if p.name <= f"epoch_{done - 1:03d}.npz"]
        for p in recorded[:-self.keep]:
            p.unlink()

    @staticmethod
    def _maybe_kill(point: str, epoch: int) -> None:
        if os.environ.get(KILL_AT_HOOK) == f"{point}:{epoch}":
            os.kill(os.getpid(), signal.SIGKILL)

    def _read_record(self, path: Path) -> dict:
        if not path.exists():
            raise ResumeError(f"nothing to resume in {self.out}: no reproduction.json (run without --resume)")
        try:
            rec = read_json(path)
            done = int(rec["epochs_done"])
            if done < 0 or not isinstance(rec.get("losses"), dict):
                raise ValueError(f"epochs_done {done}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ResumeError(f"{path} cannot be read ({type(exc).__name__}: {exc}); it is not a record to "
                              f"resume from: run without --resume (or with another --out)") from None
        return rec

    def _load_checkpoint(self, done: int) -> int:
        """Load the newest checkpoint up to epoch done-1 that loads; returns how many epochs it holds.
        A truncated or missing newest one is reported and the one before it tried."""
        problems = []
        for epoch in range(done - 1, -1, -1):
            ckpt = self.out / "checkpoints" / f"epoch_{epoch:03d}.npz"
            if not ckpt.exists():
                if epoch == done - 1:
                    problems.append(f"{ckpt} is missing")
                continue
            try:
                self.backend.load_state(load_state(ckpt))
            except Exception as exc:  # np.load raises BadZipFile, EOFError, ValueError, OSError …
                problems.append(f"{ckpt} cannot be loaded ({type(exc).__name__}: {exc})")
                continue
            if problems:
                self.log(f"{'; '.join(problems)}; resuming from {ckpt.name} instead (epochs after it are redone)")
            return epoch + 1
        raise ResumeError(f"no checkpoint in {self.out / 'checkpoints'} loads ({'; '.join(problems) or 'none there'}); "
                          f"run without --resume to start afresh")

    def resume(self) -> int:
        """Load the last checkpoint and the record up to it; returns the epoch to start at."""
        path = self.out / "reproduction.json"
        rec = self._read_record(path)
        if rec.get("spec_hash") != self.spec.spec_hash() or rec.get("backend") != self.backend_name:
            raise ResumeError(f"{path} is a run of another spec or backend; not resuming")
        done = int(rec["epochs_done"])
        if not done:
            return 0
        done = self._load_checkpoint(done)
        ckpt = self.out / "checkpoints" / f"epoch_{done - 1:03d}.npz"
        rec["checkpoint"] = ckpt.relative_to(self.out).as_posix()
        rec["epochs_done"] = done
        n = done * self.record["iterations_per_epoch"]
        rec["losses"] = {k: v[:n] for k, v in rec["losses"].items()}
        rec["epoch_losses"], rec["metrics"] = rec["epoch_losses"][:done], rec["metrics"][:done]
        rec["grids"] = rec["grids"][:done]
        rec.update(status="running", error=None, epochs_planned=self.epochs, finished_at=None)
        self.record = rec
        self.log(f"resuming {self.spec.name} on {self.backend_name} at epoch {done} from {ckpt}")
        return done

    # --- the run ------------------------------------------------------------------------------------
    def run(self, resume: bool = False) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        start = self.resume() if resume else 0
        if start:
            self._prune()  # a kill between the record and the rotation left one too many
        if start == 0:
            self.backend.load_state(initial_state(self.spec, self.seed))
        t0 = time.perf_counter() - self.record.get("seconds", 0.0)
        try:
            for epoch in range(start, self.epochs):
                status = self._epoch(epoch)
                self.record["seconds"] = time.perf_counter() - t0
                if status != "ok":
                    self.record["status"] = status
                    break
                self._save_record()
                self._rotate(epoch)
                if os.environ.get(KILL_HOOK) == str(epoch):
                    os.kill(os.getpid(), signal.SIGKILL)
            else:
                self.record["status"] = "completed"
        except Exception as exc:  # recorded; the last good checkpoint stays on disk
            self.record["status"], self.record["error"] = "failed", {"type": type(exc).__name__, "message": str(exc)}
        self.record["finished_at"] = now_iso()
        self._save_record()
        self._plots()
        return self.record

    def _epoch(self, epoch: int) -> str:
        from tqdm import tqdm

        batches = self.feed.batches(epoch)
        plant = os.environ.get(NAN_HOOK, "")
        spec, rec = self.spec, self.record
        d_sum = g_sum = 0.0
        bar = tqdm(total=len(batches), desc=f"epoch {epoch + 1}/{self.epochs}", leave=False, file=sys.stderr,
                   disable=None)  # a bar on a terminal only; a log gets the line per epoch
        for i, idx in enumerate(batches):
            real = self.feed.real(idx)
            if plant == f"{epoch}:{i}":
                real = np.full_like(real, np.nan)
            try:
                handle = self.backend.step(real, self.feed.noise(epoch, i, len(real)))
                if not self._placed:  # a run that says cuda computed on the GPU
                    self.backend.check_placement(handle)
                    self._placed = True
                s = self.backend.read(handle)
                what = None if math.isfinite(s.d_loss) and math.isfinite(s.g_loss) else \
                    f"loss_d {s.d_loss}, loss_g {s.g_loss}"
            except Exception as exc:
                # some frameworks raise on NaN probabilities (torch's BCE) instead of returning NaN
                if self._finite(real):
                    raise
                what = f"{type(exc).__name__}: {exc}"
            bar.update(1)
            if what:
                bar.close()
                rec["error"] = {"type": "Diverged", "message": f"{what} at epoch {epoch} iteration {i}; "
                                f"the last good checkpoint is {rec['checkpoint']}"}
                self.log(f"DIVERGED at epoch {epoch} iteration {i}: {rec['error']['message']}")
                return "diverged"
            rec["losses"]["d"].append(s.d_loss)
            rec["losses"]["g"].append(s.g_loss)
            rec["losses"]["epoch"].append(epoch)
            d_sum, g_sum = d_sum + s.d_loss, g_sum + s.g_loss
            if i % spec.run.log_every == 0:
                bar.write(f"Epoch:[{epoch:>3d}/{self.epochs:>3d}], step:[{i:>4d}/{len(batches):>4d}], "
                          f"loss_d:{s.d_loss:>8.6f}, loss_g:{s.g_loss:>8.6f}, D(x):{s.d_x:.4f}, "
                          f"D(G(z)):{s.d_g_z1:.4f}/{s.d_g_z2:.4f}")
        bar.close()
        n = len(batches)
        rec["epoch_losses"].append({"epoch": epoch, "d": d_sum / n, "g": g_sum / n,
                                    "last_d": rec["losses"]["d"][-1], "last_g": rec["losses"]["g"][-1]})
        samples = self.backend.generate(self.fixed)
        grid = self.out / "grids" / f"epoch_{epoch:03d}.png"
        save_grid(grid, samples, spec.data.image_shape)
        rec["grids"].append(grid.relative_to(self.out).as_posix())
        metrics = self._metrics(epoch)
        rec["metrics"].append(metrics)
        spread = float(np.asarray(samples).reshape(len(samples), -1).std(axis=0).mean())
        metrics["sample_pixel_std"] = spread
        if spread < COLLAPSE_STD:
            rec["error"] = {"type": "Collapsed", "message": f"the fixed-noise samples are all alike "
                            f"(mean per-pixel std {spread:.2e} < {COLLAPSE_STD}) after epoch {epoch}"}
            self.log(f"COLLAPSED: {rec['error']['message']}")
            return "collapsed"
        rec["checkpoint"] = self._checkpoint(epoch).relative_to(self.out).as_posix()
        rec["epochs_done"] = epoch + 1
        self.log(f"epoch {epoch + 1}/{self.epochs}: mean loss_d {d_sum / n:.4f}, loss_g {g_sum / n:.4f}, "
                 f"SWD {metrics['swd']['mean']:.1f}" + (f", Fréchet(MNIST) {metrics['frechet_mnist']:.2f}, "
                                                       f"{metrics['classes_covered']}/10 digits"
                                                       if "frechet_mnist" in metrics else ""))
        return "ok"

    def _finite(self, real: np.ndarray) -> bool:
        """Whether the batch and the whole training state are still finite numbers."""
        return bool(np.isfinite(real).all()) and all(np.isfinite(v).all() for v in self.backend.export_state().values())

    def _metrics(self, epoch: int) -> dict:
        from common.metrics import quality

        n = min(self.metric_samples, len(self.source))
        z = draw_noise(self.spec.recipe.noise, n, np.random.default_rng([self.seed, METRIC_NOISE_SEED]))
        fake = np.concatenate([self.backend.generate(z[k:k + 250]) for k in range(0, n, 250)])
        real_idx = np.random.default_rng([self.seed, METRIC_NOISE_SEED, 1]).permutation(len(self.source))[:n]
        real = self.feed.real(real_idx)
        shape = (-1, *self.spec.data.image_shape)
        real, fake = real.reshape(shape), np.asarray(fake, np.float32).reshape(shape)
        digits = None
        if self.spec.data.dataset.startswith("mnist"):
            digits = (_mnist_view(real, self.spec), _mnist_view(fake, self.spec))
        out = quality(real, fake, digits, seed=self.seed)
        out["epoch"] = epoch
        return out

    def _plots(self) -> None:
        grids = [self.out / g for g in self.record["grids"] if (self.out / g).exists()]
        if grids:
            from PIL import Image

            frames = [Image.open(p).convert("RGB") for p in grids]
            frames[0].save(self.out / "progress.gif", save_all=True, append_images=frames[1:], duration=500, loop=0)
        losses = self.record["losses"]
        if losses["d"]:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
            a.plot(losses["d"], label="D", lw=0.6)
            a.plot(losses["g"], label="G", lw=0.6)
            a.set(xlabel="iteration", ylabel="loss", title=f"{self.spec.name} on {self.backend_name}: per step")
            ep = self.record["epoch_losses"]
            b.plot([e["epoch"] for e in ep], [e["d"] for e in ep], "o-", label="D")
            b.plot([e["epoch"] for e in ep], [e["g"] for e in ep], "o-", label="G")
            b.set(xlabel="epoch", ylabel="mean loss", title="per epoch")
            for ax in (a, b):
                ax.legend()
            fig.tight_layout()
            fig.savefig(self.out / "losses.png", dpi=90)
            plt.close(fig)

