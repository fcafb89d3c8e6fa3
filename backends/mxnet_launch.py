"""MXNet's own launcher, `tools/launch.py` from the mxnet wheel, run as it ships.

`python -m backends.mxnet_launch -n M -s S --launcher local|ssh [-H HOSTFILE] COMMAND…` is
`python <site-packages>/mxnet/tools/launch.py …`: it starts the dist KVStore's scheduler, S servers
and M workers (dmlc_tracker, which the wheel also ships), each running COMMAND with DMLC_ROLE set.

One thing is restored first: dmlc_tracker (mxnet 1.9.1) polls its scheduler thread with
`Thread.isAlive`, which Python 3.9 removed, so on Python 3.11 the launcher dies with an
AttributeError after starting the scheduler and before any server or worker (tried here). It is
`Thread.is_alive` under its old name. mxnet is not imported here: the launcher has no need of it.

One thing is added: dmlc_tracker starts each worker from a thread that raises when the worker exits
non-zero, and then goes on waiting for the scheduler, which waits for every worker forever (ps-lite
detects no failure). A thread that raises here ends the job: SIGTERM to this process group, which
holds the scheduler, the local servers and workers (the ssh clients, with --launcher ssh). The
harness starts it in a session of its own (benchmarks/distributed.py), so that group is the job's.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import signal
import sys
import threading
import time
from pathlib import Path


def launch_script() -> Path:
    spec = importlib.util.find_spec("mxnet")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mxnet is not installed here: pip install mxnet==1.9.1 'numpy<1.24' (nox -s bench-mxnet)")
    script = Path(next(iter(spec.submodule_search_locations))) / "tools" / "launch.py"
    if not script.is_file():
        raise SystemExit(f"this mxnet has no launcher at {script}")
    return script


GRACE_S = 5.0  # a refusal fails every worker at once: worker 0 is given time to record it


def _end_job(args: threading.ExceptHookArgs) -> None:
    # one line, not the thread's traceback: dmlc_tracker's error quotes the worker's whole environment
    # (credentials included), which would also crowd the worker's own error out of the recorded tail
    why = f"{type(args.exc_value).__name__}: {str(args.exc_value)[:160]}"
    print(f"mxnet_launch: a worker failed ({why} …); ending the job in {GRACE_S:.0f} s", file=sys.stderr, flush=True)
    time.sleep(GRACE_S)
    os.killpg(os.getpgid(0), signal.SIGTERM)


def main(argv: list[str]) -> None:
    script = launch_script()
    if not hasattr(threading.Thread, "isAlive"):
        threading.Thread.isAlive = threading.Thread.is_alive  # type: ignore[attr-defined]
    threading.excepthook = _end_job
    sys.argv = [str(script), *argv]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
