"""Audio in, features out: load any common audio file as 16 kHz mono float32, and
turn batches of waveforms into normalised MFCC features.

Reading goes through soundfile (libsndfile: wav, flac, ogg/vorbis/opus, mp3, aiff, ...)
and falls back to the ffmpeg command line for containers libsndfile cannot open
(webm, m4a/aac, ...). Every failure becomes an ``AudioError`` that names the file and
the reason, so callers can report it in one line and go on with the next file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from .resample import resample  # torchaudio's filter, in numpy (no torch)

if TYPE_CHECKING:
    import torch

SAMPLE_RATE = 16_000  # Hz; every model in this project consumes 16 kHz mono audio
N_FFT = 400  # samples: a 25 ms analysis window at SAMPLE_RATE
HOP_LENGTH = 160  # samples: a 10 ms frame shift at SAMPLE_RATE, so 100 frames a second
N_MELS = 80  # mel filterbank channels fed to the DCT
N_MFCC = 40  # cepstral coefficients kept from the DCT of the N_MELS log energies
FFMPEG_TIMEOUT_S = 600  # a decode that takes longer than this is treated as hung
FFMPEG_DEMUXERS = (  # containers of audio ffmpeg may open (no playlists, no concat)
    "aac,ac3,aiff,amr,ape,asf,au,avi,caf,dsf,dts,eac3,flac,flv,loas,matroska,mlp,mov,"
    "mp3,mpc,mpc8,mpeg,mpegts,ogg,rm,tak,truehd,tta,voc,w64,wav,wv,xwma"
)
MAX_AMPLITUDE = 1e6  # float samples beyond this are corrupt (MFCC power would overflow)
MAX_RESAMPLE_KERNEL = 1_000_000  # reduced in x out rate product torchaudio may build
MAX_CHANNELS = 64  # a 2-D array with more "channels" than this is taken as (C, N)


class AudioError(ValueError):
    """Raised for audio that cannot be used: missing, empty, corrupt, unsupported or
    non-finite. The message names the file (when there is one) and the reason."""


class AudioTooLong(AudioError):
    """Audio longer than the caller's ``max_seconds``, found out before it was all
    decoded. ``seconds`` is its length when the header tells, else None."""

    def __init__(self, message: str, seconds: float | None = None):
        super().__init__(message)
        self.seconds = seconds


def load_audio(
    path: str | Path, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None
) -> np.ndarray:
    """Read an audio file as mono float32 in [-1, 1] at ``sample_rate``.

    Args:
        path: any file soundfile or ffmpeg can decode; any rate, channel count and
            bit depth.
        sample_rate: rate of the returned samples, in Hz.
        max_seconds: refuse longer audio (``AudioTooLong``), judged from the header
            before decoding, and never decoding more than this (a header may lie),
            so that a small file that expands to hours costs no memory.

    Returns:
        (N,) float32 samples.

    Raises:
        AudioError: the file is missing, empty, corrupt, unsupported or holds
            non-finite samples.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        samples, source_rate = _read_soundfile(path, max_seconds)
    except AudioTooLong:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as sf_error:
        if shutil.which("ffmpeg") is None:
            raise AudioError(
                f"{path}: cannot decode ({_first_line(sf_error)}); "
                "install ffmpeg to read more formats"
            ) from None
        samples, source_rate = _read_ffmpeg(path, sample_rate, max_seconds), sample_rate
    if max_seconds is not None and len(samples) > max_seconds * source_rate:
        raise AudioTooLong(f"{path}: longer than the {max_seconds:g} s allowed")
    return prepare_audio(samples, source_rate, sample_rate, name=str(path))


def prepare_audio(
    samples: np.ndarray | torch.Tensor,
    source_rate: int,
    sample_rate: int = SAMPLE_RATE,
    name: str = "audio",
) -> np.ndarray:
    """Check, downmix and resample samples that are already in memory.

    Args:
        samples: (N,) mono or (N, C) channels-last audio; integer PCM is scaled to
            [-1, 1] by its type's full range.
        source_rate: rate of ``samples`` in Hz.
        sample_rate: rate of the result in Hz.
        name: how to refer to the audio in error messages.

    Returns:
        (M,) float32 mono samples at ``sample_rate``.
    """
    try:
        samples = to_float(samples)
    except AudioError as error:
        raise AudioError(f"{name}: {error}") from None
    if samples.size == 0:
        raise AudioError(f"{name}: no audio samples")
    source_rate = check_rate(source_rate)
    if not 1_000 <= source_rate <= 1_000_000:
        raise AudioError(f"{name}: implausible sample rate {source_rate} Hz")
    if source_rate != sample_rate:
        samples = resample(
            samples, resampling_rate(source_rate, sample_rate), sample_rate
        )
    return samples


def to_float(samples: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N,) or (N, C) samples of any dtype -> (N,) float32 mono; integer PCM is
    scaled by its type's full range (int16 / 32768), never peak-normalised. A
    (C, N) array (torchaudio's layout: at most MAX_CHANNELS rows, more columns) is
    taken as channels-first.

    Raises:
        TypeError: not a numeric array or tensor (bytes, a file object, paths).
        AudioError: the wrong number of dimensions, or non-finite samples.
    """
    samples = _as_array(samples)
    if samples.dtype.kind in "iu":
        samples = _int_to_float(samples)
    samples = samples.astype(np.float32, copy=False)
    if samples.ndim == 2 and samples.shape[0] <= MAX_CHANNELS < samples.shape[1]:
        samples = samples.T  # (C, N) -> (N, C)
    if samples.ndim == 2 and samples.shape[1] > MAX_CHANNELS:
        raise AudioError(
            f"expected (samples, channels) audio with at most "
            f"{MAX_CHANNELS} channels, got shape {samples.shape}"
        )
    if samples.ndim == 2:
        samples = samples.mean(axis=1)  # (N, C) -> (N,)
    if samples.ndim != 1:
        raise AudioError(
            "expected (samples,) or (samples, channels) audio, "
            f"got shape {samples.shape}"
        )
    if not np.isfinite(samples).all():
        raise AudioError("audio holds NaN or infinite samples")
    if samples.size and np.abs(samples).max() > MAX_AMPLITUDE:
        raise AudioError(amplitude_error(samples))
    return samples


def _as_array(samples) -> np.ndarray:
    """A numpy view of numeric samples, or a TypeError that says what is expected."""
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    if torch is not None and isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu()  # a tensor that requires grad is fine too
        is_half = samples.dtype in (torch.float16, torch.bfloat16)
        samples = (samples.float() if is_half else samples).numpy()
    elif isinstance(samples, (list, tuple)):
        try:
            samples = np.asarray(samples)
        except ValueError:
            samples = np.asarray([], dtype=object)
    if not isinstance(samples, np.ndarray) or samples.dtype.kind not in "iuf":
        what = (f"an array of {samples.dtype}" if isinstance(samples, np.ndarray)
                else type(samples).__name__)  # fmt: skip
        raise TypeError(
            "expected a path, or samples as a numeric numpy array or "
            f"torch tensor of shape (N,) or (N, channels), not {what}"
        )
    return samples


def check_rate(rate) -> int:
    """A sample rate as an int, or a TypeError/AudioError that says what is expected
    (a whole number of Hz; 44100.0 is fine, "16000" and 44100.5 are not)."""
    numbers = (int, float, np.integer, np.floating)
    if isinstance(rate, bool) or not isinstance(rate, numbers):
        kind = type(rate).__name__
        raise TypeError(f"sample_rate must be a whole number of Hz, not {kind}")
    if not (np.isfinite(rate) and float(rate).is_integer()):
        raise AudioError(f"sample_rate must be a whole number of Hz, not {rate}")
    return int(rate)


def amplitude_error(samples: np.ndarray) -> str:
    """Why float samples far beyond [-1, 1] are refused."""
    return (
        f"samples reach {np.abs(samples).max():.3g}, beyond the plausible "
        f"{MAX_AMPLITUDE:g} (float audio lies in [-1, 1])"
    )


def resampling_rate(source_rate: int, target_rate: int = SAMPLE_RATE) -> int:
    """The rate to resample audio recorded at ``source_rate`` Hz from.

    torchaudio's windowed-sinc kernel holds (source / gcd) x (target / gcd) taps or
    more, so an odd rate such as 44101 Hz would need gigabytes and minutes. Such a
    rate is taken as the nearest multiple of 100 Hz instead (44101 -> 44100: a speed
    error under 0.5 % above 10 kHz, which speech recognition does not notice);
    common rates (8k, 11.025k, 22.05k, 44.1k, 48k, 192k, ...) are kept exactly.
    """
    gcd = int(np.gcd(source_rate, target_rate))
    if (source_rate // gcd) * (target_rate // gcd) <= MAX_RESAMPLE_KERNEL:
        return source_rate
    return max(100, round(source_rate / 100) * 100)


def _int_to_float(samples: np.ndarray) -> np.ndarray:
    info = np.iinfo(samples.dtype)
    centre = (info.max + info.min + 1) / 2  # 0 for signed, 128 for uint8
    return ((samples.astype(np.float64) - centre) / (info.max - centre + 1)).astype(
        np.float32
    )


def _read_soundfile(path: Path, max_seconds: float | None = None):
    """All the samples, or at most one more than ``max_seconds`` of them; a file
    whose header says it is longer is refused before any decoding."""
    with quiet_stderr(), sf.SoundFile(str(path)) as handle:
        frames = -1
        if max_seconds is not None:
            seconds = handle.frames / handle.samplerate
            if seconds > max_seconds:
                raise AudioTooLong(f"{path}: lasts {seconds:.0f} s, longer than the "
                                   f"{max_seconds:g} s allowed", seconds)  # fmt: skip
            frames = int(max_seconds * handle.samplerate) + 1
        return handle.read(frames, dtype="float32", always_2d=True), handle.samplerate


def ffmpeg_command(path: Path, sample_rate: int, *output: str) -> list[str]:
    """The ffmpeg command line that decodes ``path`` to mono float32 on stdout.

    Only FFMPEG_DEMUXERS may open it, through the file protocol alone: a playlist
    or concat file (a 28-byte ffconcat naming itself loops forever) or an HLS list
    would make ffmpeg open other files or URLs. ``-timelimit`` ends a decode that
    spends FFMPEG_TIMEOUT_S of CPU time, however slowly its output is read.
    """
    return [
        "ffmpeg", "-nostdin", "-v", "error", "-timelimit", str(FFMPEG_TIMEOUT_S),
        "-format_whitelist", FFMPEG_DEMUXERS, "-protocol_whitelist", "file",
        "-i", f"file:{path}", *output,
        "-f", "f32le", "-ac", "1", "-ar", str(sample_rate), "-",
    ]  # fmt: skip


def ffmpeg_reason(path: Path, stderr: str) -> str:
    """One line for a failed ffmpeg decode: its last message, without the path."""
    if "not on whitelist" in stderr:
        return "a playlist or container that is not opened here (not audio)"
    reason = _first_line(stderr).replace(f"file:{path}: ", "")
    return reason.replace(f"{path}: ", "") or "unknown error"


def _read_ffmpeg(path: Path, sample_rate: int, max_seconds: float | None = None):
    limit = ["-t", f"{max_seconds + 1:g}"] if max_seconds is not None else []
    cmd = ffmpeg_command(path, sample_rate, *limit)
    try:
        result = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AudioError(f"{path}: decoding took over {FFMPEG_TIMEOUT_S} s") from None
    if result.returncode != 0:
        reason = ffmpeg_reason(path, result.stderr.decode(errors="replace"))
        raise AudioError(f"{path}: not a readable audio file ({reason})")
    samples = np.frombuffer(result.stdout, dtype="<f4")
    if samples.size == 0:
        raise AudioError(f"{path}: no audio samples")
    return samples.copy()


@contextlib.contextmanager
def quiet_stderr():
    """Silence what C libraries write to file descriptor 2 (libmpg123's notes on a
    damaged mp3); the errors that matter come back as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _first_line(message: object) -> str:
    lines = str(message).strip().splitlines()
    return lines[-1].strip() if lines else ""
