"""CPU threads: one setting for every entry point (``asr`` commands, ``load_model``,
the streaming recogniser, the demo and training).

Measured on an idle 2-core machine and beside two busy processes (``docs/cpu.md``):
torch's default, one OpenMP thread per core that spins while it waits, collapses as
soon as another process wants a core (127x real time per file idle, 5.4x loaded);
one thread per request kept 62 % of its idle speed (122x -> 75x) and beat two threads
told to sleep when idle (``OMP_WAIT_POLICY=PASSIVE``: 112x -> 60x), and two requests
side by side with one thread each did the most work (232x). So the default is
``DEFAULT_THREADS`` thread, parallelism comes from requests and files side by
side, and ``OMP_WAIT_POLICY=PASSIVE`` is set before torch loads (``asr/__init__.py``)
so that threads beyond one sleep instead of spinning when a user asks for more.
``--threads`` or ``$ASR_THREADS`` changes it.

This module imports torch only inside ``set_threads``: ``wait_passively`` must run
before torch's OpenMP runtime starts.
"""

from __future__ import annotations

import argparse
import os

THREADS_ENV = "ASR_THREADS"  # environment variable read when no --threads is given
DEFAULT_THREADS = 1  # torch intra-op threads per process or request (see above)


def wait_passively() -> None:
    """Let idle OpenMP threads sleep rather than spin (unless the user chose).
    Takes effect only when called before torch is first imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def resolve_threads(threads: int | None = None) -> int:
    """``threads`` if given (and not 0), else ``$ASR_THREADS``, else the default.

    Raises:
        ValueError: a count below 1, or ``$ASR_THREADS`` that is not a number.
    """
    if not threads:
        raw = os.environ.get(THREADS_ENV, "").strip()
        try:
            threads = int(raw) if raw else DEFAULT_THREADS
        except ValueError:
            raise ValueError(
                f"${THREADS_ENV}={raw!r}: expected a whole number of threads"
            ) from None
    if threads < 1:
        raise ValueError(f"threads must be 1 or more, got {threads}")
    return threads


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads for this process (``resolve_threads``) and one
    inter-op thread; returns the intra-op count."""
    import torch

    count = resolve_threads(threads)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # allowed only once, before any inter-op work: keep it
        pass
    return count


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    from .options import positive_int  # imports torch: not at import time (see above)

    parser.add_argument(
        "--threads", type=positive_int, default=None,
        help=f"torch CPU threads for this process (default: ${THREADS_ENV}, else "
        f"{DEFAULT_THREADS}; see docs/cpu.md)",
    )  # fmt: skip
