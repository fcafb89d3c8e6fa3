"""`python -m benchmarks.worker CONFIG_JSON`: one run in its own process, started by
`benchmarks.runner.run_isolated` (not a user command).

The worker logs at its supervisor's level (GANBENCH_LOG_LEVEL), shows progress bars where its
supervisor writes to a terminal (GANBENCH_PROGRESS), stops like Ctrl-C on SIGTERM (what its
supervisor sends when it is stopped), dies with its supervisor, and runs the run without taking
its lock (the supervisor holds it). Exit codes: 0 ok, 1 failed run (recorded), 3 the result
could not be written, 130 stopped.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from benchmarks.runner import STOPPING, SUPERVISOR, RunConfig, run_one, setup_logging


def die_with_supervisor() -> None:
    """SIGTERM when the supervising process dies, even by SIGKILL (Linux), so no orphan goes on
    training and writing results after its command was stopped."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # held while we were started
    parent = os.environ.get(SUPERVISOR)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):  # the supervisor died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)


def run(cfg: RunConfig) -> int:
    """SIGTERM (the supervisor stopping it on Ctrl-C) ends the run like Ctrl-C does, so temporary
    files are removed and nothing is recorded for the unfinished run."""

    def stop(signum, frame):
        STOPPING.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        # unblocks SIGTERM: one sent while the worker started arrives here, inside the try
        die_with_supervisor()
        res = run_one(cfg, lock=False)  # the supervisor holds the run's lock
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print(f"cannot write the result to {cfg.out}: {e.strerror or e}", file=sys.stderr)
        return 3
    return 0 if res["status"] == "ok" else 1


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print(
            "usage: python -m benchmarks.worker CONFIG_JSON (started by benchmarks.runner.run_isolated)",
            file=sys.stderr,
        )
        return 2
    setup_logging()  # the supervisor's level
    return run(RunConfig(**json.loads(args[0])))


if __name__ == "__main__":
    sys.exit(main())
