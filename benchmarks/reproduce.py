"""`python -m benchmarks reproduce MODEL`: a tutorial's full training, on real data, resumable.

Writes into OUT (default results/reproduce/MODEL__BACKEND/):
  reproduction.json      status, per-step and per-epoch losses, metrics per epoch (schema
                         ganbench-reproduction), rewritten atomically at every epoch end
  checkpoints/           canonical state after each epoch (the last `keep` are kept)
  grids/epoch_NNN.png    the progress grid from the tutorial's fixed noise, every epoch
  progress.gif           those grids animated; losses.png the loss curves (reports.charts)

Inputs come from common.feed in parity mode (noise supplied, not drawn by the framework), so
iteration (e, i) sees the same batch and noise whether or not the run was interrupted: `--resume`
continues from the last checkpoint and its losses continue the interrupted run's.

The pieces: reproduce_loop (an epoch's steps and losses), reproduce_health (divergence, collapse),
reproduce_metrics (quality per epoch), reproduce_record (reproduction.json), reproduce_checkpoints
(checkpoints, their rotation, resume's loading) and reproduce_artefacts (grids, GIF, loss plot).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from benchmarks import reproduce_health as health
from benchmarks.plan import resolve_batch, resolve_device, resolve_mode
from benchmarks.reproduce_artefacts import save_epoch_grid, save_final_artefacts
from benchmarks.reproduce_checkpoints import KILL_AT_HOOK, Checkpoints, ResumeError
from benchmarks.reproduce_health import NAN_HOOK
from benchmarks.reproduce_loop import EpochLoop
from benchmarks.reproduce_metrics import EpochMetrics
from benchmarks.reproduce_record import FILE, cut_back, new_record, read_record, save_record
from common.adam import adam_form_of, with_adam_form
from common.env import machine_env, now_iso
from common.feed import Feed, fixed_noise
from common.models import PUBLISHED, get_model
from common.state import initial_state

KILL_HOOK = "GANBENCH_KILL_AFTER_EPOCH"  # test hook: SIGKILL itself once this epoch's checkpoint is written

# the test hooks and ResumeError are imported from here by the CLI and the tests
__all__ = ["KILL_AT_HOOK", "KILL_HOOK", "NAN_HOOK", "Reproduction", "ResumeError", "Subset", "default_backend"]


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


class Reproduction:
    """One reproduction run: sets up the backend, feed and record, then runs the epochs (or resumes
    them), each epoch's outcome deciding the record's status."""

    def __init__(
        self,
        model: str,
        backend: str | None = None,
        device: str = "auto",
        epochs: int | None = None,
        out: str | None = None,
        data_dir=None,
        cache_dir=None,
        download: bool = True,
        seed: int = 0,
        subset: int | None = None,
        batch_size: int | None = None,
        metric_samples: int = 1000,
        keep: int = 3,
        log=print,
        mode: str | None = None,
        adam_form: str | None = None,
    ):
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
        self.fixed = fixed_noise(self.spec, seed=seed)
        self.loop = EpochLoop(self.spec, self.backend, self.feed, self.epochs)
        self.metrics = EpochMetrics(self.spec, self.feed, self.source, seed, metric_samples)
        self.checkpoints = Checkpoints(self.out, keep, log)
        self.record = new_record(
            spec=self.spec,
            backend_name=self.backend_name,
            device=self.device,
            mode=self.backend.mode,
            epochs=self.epochs,
            iterations_per_epoch=self.feed.iterations_per_epoch(),
            batch_size=self.feed.batch_size,
            seed=seed,
            subset=subset,
            adam_form=adam_form_of(self.spec),
            source=self.source,
            published=PUBLISHED.get(self.spec.name),
            env={**machine_env(), **self.backend.info()},
            started_at=now_iso(),
        )

    def resume(self) -> int:
        """Load the last checkpoint and the record up to it; returns the epoch to start at."""
        rec = read_record(self.out)
        if rec.get("spec_hash") != self.spec.spec_hash() or rec.get("backend") != self.backend_name:
            raise ResumeError(f"{self.out / FILE} is a run of another spec or backend; not resuming")
        done = int(rec["epochs_done"])
        if not done:
            return 0
        done = self.checkpoints.load_newest(done, self.backend.load_state)
        cut_back(rec, done, self.record["iterations_per_epoch"], self.checkpoints.name(done - 1))
        rec.update(status="running", error=None, epochs_planned=self.epochs, finished_at=None)
        self.record = rec
        self.log(
            f"resuming {self.spec.name} on {self.backend_name} at epoch {done} from {self.checkpoints.path(done - 1)}"
        )
        return done

    def run(self, resume: bool = False) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        start = self.resume() if resume else 0
        if start:
            self.checkpoints.prune(start)  # a kill between the record and the rotation left one too many
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
                save_record(self.out, self.record)
                self.checkpoints.rotate(epoch, self.record["epochs_done"])
                if os.environ.get(KILL_HOOK) == str(epoch):
                    os.kill(os.getpid(), signal.SIGKILL)
            else:
                self.record["status"] = "completed"
        except Exception as exc:  # recorded; the last good checkpoint stays on disk
            self.record["status"], self.record["error"] = "failed", {"type": type(exc).__name__, "message": str(exc)}
        self.record["finished_at"] = now_iso()
        save_record(self.out, self.record)
        save_final_artefacts(self.out, self.record)
        return self.record

    def _epoch(self, epoch: int) -> str:
        """Train one epoch and record it: "ok", or the status that stops the run."""
        rec = self.record
        end = self.loop.run(epoch, rec["losses"])
        if end.diverged:
            rec["error"] = health.diverged(end.diverged, epoch, end.iteration, rec["checkpoint"])
            self.log(f"DIVERGED at epoch {epoch} iteration {end.iteration}: {rec['error']['message']}")
            return "diverged"
        rec["epoch_losses"].append(
            {
                "epoch": epoch,
                "d": end.d_mean,
                "g": end.g_mean,
                "last_d": rec["losses"]["d"][-1],
                "last_g": rec["losses"]["g"][-1],
            }
        )
        samples = self.backend.generate(self.fixed)
        rec["grids"].append(save_epoch_grid(self.out, epoch, samples, self.spec.data.image_shape))
        metrics = self.metrics.measure(self.backend, epoch)
        rec["metrics"].append(metrics)
        metrics["sample_pixel_std"] = spread = health.sample_spread(samples)
        error = health.collapsed(spread, epoch)
        if error:
            rec["error"] = error
            self.log(f"COLLAPSED: {error['message']}")
            return "collapsed"
        rec["checkpoint"] = self.checkpoints.save(epoch, self.backend.export_state())
        rec["epochs_done"] = epoch + 1
        self.log(
            f"epoch {epoch + 1}/{self.epochs}: mean loss_d {end.d_mean:.4f}, loss_g {end.g_mean:.4f}, "
            f"SWD {metrics['swd']['mean']:.1f}"
            + (
                f", Fréchet(MNIST) {metrics['frechet_mnist']:.2f}, {metrics['classes_covered']}/10 digits"
                if "frechet_mnist" in metrics
                else ""
            )
        )
        return "ok"
