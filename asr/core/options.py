"""Checks for command-line values, as argparse ``type=`` functions: a bad value is
refused while the command line is parsed, with one line and exit status 2, before
any model or file is loaded. ``run_script`` ends a command (``asr`` and every
recipe script) the same way: one line on stderr and an exit status, no traceback."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable


def bounded_int(value: str, low: int = 1, high: int | None = None) -> int:
    """A whole number in [low, high]."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r:.40} is not a whole number"
        ) from None
    if number < low or (high is not None and number > high):
        within = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise argparse.ArgumentTypeError(f"must be {within}, not {number}")
    return number


def positive_int(value: str) -> int:
    """A whole number >= 1."""
    return bounded_int(value, 1)


def finite_float(value: str) -> float:
    """A finite number (no nan, inf or overflow such as 1e999)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r:.40} is not a number") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {value!r:.40}")
    return number


def non_negative_float(value: str) -> float:
    """A finite number >= 0."""
    number = finite_float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return number


def non_negative_or_inf(value: str) -> float:
    """A number >= 0, or inf ("no limit"); never nan."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r:.40} is not a number") from None
    if math.isnan(number) or number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 or inf, not {value!r:.40}")
    return number


def positive_float(value: str) -> float:
    """A finite number > 0."""
    number = finite_float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {value}")
    return number


def unit_interval(value: str) -> float:
    """A number from 0 to 1."""
    number = finite_float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return number


def port(value: str) -> int:
    """A TCP port number, 1 to 65535."""
    return bounded_int(value, 1, 65535)


def device(value: str) -> str:
    """A torch device this machine has: cpu, cuda, cuda:N (N < the GPU count), mps."""
    if value == "cpu":
        return value  # without importing torch: the ONNX runtime runs on the CPU
    import torch

    try:
        parsed = torch.device(value)
    except (RuntimeError, ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"unknown device {value!r:.40}; use cpu, cuda or cuda:N"
        ) from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(f"{value}: CUDA is not available here")
        if parsed.index is not None and parsed.index >= count:
            raise argparse.ArgumentTypeError(
                f"{value}: this machine has {count} GPU(s)"
            )
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{value}: MPS is not available here")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{value}: use cpu, cuda, cuda:N or mps")
    return value


def add_verbosity_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q", "--quiet", action="store_true",
        help="no progress bar or summary on stderr (errors are still printed)",
    )  # fmt: skip
    group.add_argument(
        "-v", "--verbose", action="store_true",
        help="also say on stderr which model and decoder run",
    )  # fmt: skip


SCRIPT_ERRORS = (OSError, ValueError, RuntimeError)  # a missing file, a bad value


def run_script(main: Callable, argv=None, errors: tuple = SCRIPT_ERRORS) -> int:
    """Call ``main(argv)`` and turn how it ends into an exit status, as a command
    line should: Ctrl-C is ``interrupted`` (130), a closed pipe is quiet (141), and
    one of ``errors`` (a missing file, a bad value) is one ``error:`` line (1).

    Use it at a script's entry point: ``sys.exit(run_script(main))``.
    """
    try:
        status = main(argv)
        return status if isinstance(status, int) else 0  # a prepare() returns counts
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for SIGINT
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head -1`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python exits
        return 141  # 128 + SIGPIPE, as a shell reports a process killed by it
    except errors as error:
        print(f"error: {describe_error(error)}", file=sys.stderr)
        return 1


def describe_error(error: BaseException) -> str:
    """One line for an exception: ``path: reason`` for a file error."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0] if "\n" in text else text
