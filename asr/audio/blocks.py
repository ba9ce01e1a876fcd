"""Audio as a stream of 16 kHz mono blocks, so that a long file or a live source never
has to sit whole in memory: ``read_blocks`` reads a file block by block and
``StreamResampler`` changes the rate chunk by chunk with the same result as
resampling the whole signal at once.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from .io import (
    MAX_AMPLITUDE,
    SAMPLE_RATE,
    AudioError,
    _first_line,
    amplitude_error,
    ffmpeg_command,
    ffmpeg_reason,
    quiet_stderr,
    resampling_rate,
)
from .resample import apply_kernel, sinc_kernel

BLOCK_S = 30.0  # seconds of audio read from a file at a time


class StreamResampler:
    """Chunked resampling that matches ``torchaudio.functional.resample`` of the
    whole signal (to float rounding).

    torchaudio resamples with a windowed-sinc kernel that reads ``width`` input
    samples on each side of an output sample; no maintained library keeps that
    state across calls, so this class holds back a little input: it resamples each
    chunk with ``context`` samples of the previous chunk on the left and waits for
    ``context`` samples of the next one on the right. Chunks are cut at multiples of
    the reduced input rate, so output samples line up with the one-shot result.
    """

    def __init__(self, source_rate: int, target_rate: int = SAMPLE_RATE):
        if not 1_000 <= source_rate <= 1_000_000:
            raise AudioError(f"implausible sample rate {source_rate} Hz")
        self.source_rate, self.target_rate = source_rate, target_rate
        self.identity = source_rate == target_rate
        if self.identity:
            return
        rate = resampling_rate(source_rate, target_rate)  # odd rates: nearest 100 Hz
        self.kernel, self.width = sinc_kernel(rate, target_rate)
        gcd = np.gcd(rate, target_rate)
        self.step_in, self.step_out = rate // gcd, target_rate // gcd
        units = -(-(self.width + 1) // self.step_in)  # ceil division
        self.context = units * self.step_in  # input samples of context on each side
        # zeros, as torchaudio pads
        self.buffer = np.zeros(self.context, dtype=np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Resample the next (N,) float32 chunk; returns the output that is final."""
        if self.identity:
            return np.asarray(samples, dtype=np.float32)
        self.buffer = np.concatenate([self.buffer, np.asarray(samples, np.float32)])
        ready = (len(self.buffer) - 2 * self.context) // self.step_in * self.step_in
        if ready <= 0:
            return np.zeros(0, dtype=np.float32)
        out = self._run(self.buffer[: ready + 2 * self.context], ready)
        self.buffer = self.buffer[ready:]
        return out

    def flush(self) -> np.ndarray:
        """Resample what is held back, padding the end with zeros like torchaudio."""
        if self.identity:
            return np.zeros(0, dtype=np.float32)
        left = len(self.buffer) - self.context
        if left <= 0:
            return np.zeros(0, dtype=np.float32)
        padded = np.concatenate([self.buffer, np.zeros(self.context, np.float32)])
        self.buffer = np.zeros(self.context, dtype=np.float32)
        return self._run(padded, left)

    def _run(self, window: np.ndarray, n_in: int) -> np.ndarray:
        """Resample ``window`` = context + n_in samples + context; keep the middle."""
        out = apply_kernel(window, self.kernel, self.width, self.step_in)
        first = self.context * self.step_out // self.step_in
        count = -(-n_in * self.step_out // self.step_in)  # ceil, as torchaudio
        return out[first : first + count]


def audio_duration(path: str | Path) -> float | None:
    """Seconds of audio in ``path`` from its header, or None when libsndfile cannot
    tell without decoding (then only ffmpeg can read it)."""
    try:
        with quiet_stderr():
            info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None
    return info.frames / info.samplerate if info.samplerate else None


def truncation(path: str | Path) -> str | None:
    """Why a WAV or FLAC file looks cut off (its header promises more samples than
    the file holds; libsndfile reads what is there without a word), or None."""
    if Path(path).suffix.lower() == ".flac":
        return _flac_truncation(path)
    try:
        with wave.open(str(path)) as header:
            promised, rate = header.getnframes(), header.getframerate()
        with quiet_stderr():
            held = sf.info(str(path)).frames
    except (wave.Error, EOFError, OSError, sf.LibsndfileError, RuntimeError,
            ValueError):  # fmt: skip
        return None  # not a PCM WAV: nothing to compare
    if held >= promised or not rate:
        return None
    return (f"truncated: the header promises {promised / rate:.2f} s, the file holds "
            f"{held / rate:.2f} s; transcribing what is there")  # fmt: skip


def _flac_truncation(path: str | Path) -> str | None:
    """Why a FLAC file looks cut off, or None: seeking to the last sample its
    header promises fails (a seek, not a decode of the whole file)."""
    try:
        with quiet_stderr(), sf.SoundFile(str(path)) as handle:
            promised, rate = handle.frames, handle.samplerate
            if handle.format != "FLAC" or not promised or not rate:
                return None
            try:
                handle.seek(promised - 1)
                if len(handle.read(1, always_2d=True)):
                    return None
            except (sf.LibsndfileError, RuntimeError):
                pass
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None  # not readable by libsndfile: the reader says why
    return (f"truncated: the header promises {promised / rate:.2f} s, the file "
            "ends sooner; transcribing what is there")  # fmt: skip


def read_blocks(path: str | Path, block_s: float = BLOCK_S) -> Iterator[np.ndarray]:
    """Yield a file's audio as 16 kHz mono float32 blocks of about ``block_s``
    seconds; memory stays bounded by one block however long the file.

    Raises:
        AudioError: the file is missing, empty, unreadable or holds non-finite
            samples (possibly after some blocks were yielded).
    """
    path = Path(path)
    _check_file(path)
    try:
        with quiet_stderr():  # libmpg123 prints notes and warnings on bad mp3s
            handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as sf_error:
        if shutil.which("ffmpeg") is None:
            raise AudioError(
                f"{path}: cannot decode ({_first_line(sf_error)}); "
                "install ffmpeg to read more formats"
            ) from None
        yield from _read_ffmpeg_blocks(path, block_s)
        return
    yielded = False
    with handle:
        resampler = StreamResampler(handle.samplerate)
        frames = max(1, int(block_s * handle.samplerate))
        try:
            # read() keeps only the frames it decoded; blocks() trusts the header's
            # count and returned uninitialised memory (1e38) past a truncated mp3
            for block in _decoded_blocks(path, handle, frames):
                yielded = True
                yield _check_block(path, resampler.push(block.mean(axis=1)))
        except (sf.LibsndfileError, RuntimeError) as error:
            raise AudioError(f"{path}: corrupt audio ({_first_line(error)})") from None
        yield _check_block(path, resampler.flush())
    if not yielded:
        raise AudioError(f"{path}: no audio samples")


def _decoded_blocks(
    path: Path, handle: sf.SoundFile, frames: int
) -> Iterator[np.ndarray]:
    """(frames, channels) blocks up to the end of the file, or up to where it was
    cut off.

    A cut-off FLAC makes libsndfile raise ("lost sync") for the whole read that
    reaches the cut, though it decoded the frames before it; those are read again
    from a fresh handle, so that a truncated FLAC is transcribed up to the cut as
    WAV and mp3 are (``truncation`` gives the warning)."""
    while True:
        start = handle.tell()
        try:
            block = _quiet_read(handle, frames)
        except (sf.LibsndfileError, RuntimeError):
            decoded = handle.tell() - start
            if decoded <= 0:
                raise
            yield _reread(path, start, decoded, frames)
            return
        if not len(block):
            return
        yield block


def _reread(path: Path, start: int, count: int, step: int) -> np.ndarray:
    """All but the last of ``count`` frames from frame ``start``, read from a fresh
    handle by decoding from the beginning (seeking in a cut-off FLAC fails),
    ``step`` at a time. A read that reaches the end of a FLAC frame decodes the
    next one, which fails at the cut: hence one sample less."""
    with quiet_stderr(), sf.SoundFile(str(path)) as fresh:
        while start > 0:
            start -= len(fresh.read(min(step, start), always_2d=True)) or start
        return fresh.read(count - 1, dtype="float32", always_2d=True)


def _quiet_read(handle: sf.SoundFile, frames: int) -> np.ndarray:
    with quiet_stderr():
        return handle.read(frames, dtype="float32", always_2d=True)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")


def _check_block(path: Path, block: np.ndarray) -> np.ndarray:
    if not np.isfinite(block).all():
        raise AudioError(f"{path}: audio holds NaN or infinite samples")
    if block.size and np.abs(block).max() > MAX_AMPLITUDE:
        raise AudioError(f"{path}: {amplitude_error(block)}")
    return block


def _read_ffmpeg_blocks(path: Path, block_s: float) -> Iterator[np.ndarray]:
    """Decode with the ffmpeg command line to 16 kHz mono float32 on a pipe.

    ffmpeg's messages go to a temporary file, not a second pipe: a corrupt file
    makes it write hundreds of kB of them, and with nobody reading that pipe it
    blocked for ever while this side waited for audio (a deadlock)."""
    block_bytes = int(block_s * SAMPLE_RATE) * 4
    yielded = False
    with (
        tempfile.TemporaryFile() as messages,
        subprocess.Popen(
            ffmpeg_command(path, SAMPLE_RATE), stdout=subprocess.PIPE, stderr=messages
        ) as proc,
    ):
        try:
            while chunk := proc.stdout.read(block_bytes):
                samples = np.frombuffer(chunk[: len(chunk) // 4 * 4], "<f4").copy()
                yielded |= samples.size > 0
                yield _check_block(path, samples)
        except BaseException:  # the reader stopped early, or a block was refused
            proc.kill()
            raise
        status = proc.wait()
        if status != 0:
            messages.seek(0)
            reason = ffmpeg_reason(path, messages.read().decode(errors="replace"))
            raise AudioError(f"{path}: not a readable audio file ({reason})")
    if not yielded:
        raise AudioError(f"{path}: no audio samples")
