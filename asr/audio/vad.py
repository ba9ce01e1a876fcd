"""Voice activity detection: cut audio into speech segments at pauses.

WebRTC's VAD (PyPI ``webrtcvad-wheels``, a tiny C library with no model to download)
labels each 30 ms frame speech or not. ``VadSegmenter`` turns those labels into
segments incrementally: a voiced frame opens a segment, a pause of ``min_silence_s``
closes it, and a segment that reaches ``max_segment_s`` without a pause is cut at its
quietest frame. It holds at most one open segment of audio, so a file of any length
(``iter_segments``) or a live stream (``asr.inference.streaming``) runs in bounded
memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import webrtcvad

from .blocks import BLOCK_S, read_blocks
from .io import SAMPLE_RATE


@dataclass(frozen=True)
class VadConfig:
    aggressiveness: int = 1  # webrtcvad mode: 0 calls the most audio speech,
    #                          3 the least
    frame_ms: int = 30  # webrtcvad frame length: 10, 20 or 30 ms
    min_silence_s: float = 0.5  # a pause at least this long closes a segment
    max_segment_s: float = 20.0  # a longer voiced stretch is cut at its quietest frame
    min_cut_s: float = 10.0  # ... searched for between min_cut_s and max_segment_s
    padding_s: float = 0.3  # audio kept before the first and after the last
    #                         voiced frame
    floor_dbfs: float = -70.0  # frames quieter than this (RMS) are never speech:
    #                            WebRTC's adaptive model can call long digital
    #                            silence speech


@dataclass(frozen=True)
class SpeechSegment:
    start: int  # first sample, counted from the start of the stream (16 kHz)
    samples: np.ndarray  # (N,) float32 16 kHz audio of the segment

    @property
    def end(self) -> int:
        """One past the last sample."""
        return self.start + len(self.samples)


class VadSegmenter:
    """Incremental VAD segmentation of 16 kHz float32 audio.

    ``push`` takes chunks of any length and returns the segments they closed;
    ``flush`` closes the stream. Audio outside segments is dropped as soon as it
    is further than ``padding_s`` behind, so memory is bounded by ``max_segment_s``.
    """

    def __init__(self, config: VadConfig = VadConfig()):
        if config.frame_ms not in (10, 20, 30):
            raise ValueError("frame_ms must be 10, 20 or 30")
        if not 0 < config.min_cut_s < config.max_segment_s:
            raise ValueError("need 0 < min_cut_s < max_segment_s")
        self.config = config
        self.vad = webrtcvad.Vad(config.aggressiveness)
        self.frame = SAMPLE_RATE * config.frame_ms // 1000  # samples per VAD frame
        self.pad = int(config.padding_s * SAMPLE_RATE)
        self.max_len = int(config.max_segment_s * SAMPLE_RATE)
        self.min_cut = int(config.min_cut_s * SAMPLE_RATE)
        self.floor_power = 10 ** (config.floor_dbfs / 10)  # mean square at floor_dbfs
        self.silence_frames = max(
            1, round(config.min_silence_s * 1000 / config.frame_ms)
        )
        self.buffer = np.zeros(0, dtype=np.float32)  # audio from buffer_start on
        self.buffer_start = 0  # stream sample index of buffer[0]
        self.done = 0  # samples already classified (a multiple of self.frame)
        self.floor = 0  # no segment may start before this (end of the last one)
        self.seg_start: int | None = None  # start of the open segment, if any
        self.voiced_end = 0  # end of the last voiced frame of the open segment
        self.silence = 0  # unvoiced frames since then

    @property
    def received(self) -> int:
        """Samples pushed so far."""
        return self.buffer_start + len(self.buffer)

    def push(self, samples: np.ndarray) -> list[SpeechSegment]:
        """Add (N,) float32 16 kHz samples; return the segments now closed."""
        self.buffer = np.concatenate([self.buffer, np.asarray(samples, np.float32)])
        closed = []
        while self.done + self.frame <= self.received:
            closed.extend(self._step(self._slice(self.done, self.done + self.frame)))
            self.done += self.frame
        self._trim()
        return closed

    def flush(self) -> list[SpeechSegment]:
        """End of stream: close the open segment, if any, and reset."""
        closed = []
        if self.seg_start is not None:
            end = min(self.voiced_end + self.pad, self.received)
            closed.append(self._emit(end))
        received = self.received
        self.__init__(self.config)
        self.buffer_start = self.done = self.floor = received
        return closed

    def open_segment(self) -> SpeechSegment | None:
        """The speech classified so far in the segment that is still open, if any;
        never longer than ``max_segment_s``."""
        if self.seg_start is None:
            return None
        return SpeechSegment(self.seg_start, self._slice(self.seg_start, self.done))

    def _step(self, frame: np.ndarray) -> list[SpeechSegment]:
        """Classify one frame (it ends at self.done + self.frame) and update."""
        pcm = (np.clip(frame, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
        voiced = self.vad.is_speech(pcm, SAMPLE_RATE)
        voiced = voiced and float(np.mean(frame**2)) > self.floor_power
        frame_end = self.done + self.frame
        if self.seg_start is None:
            if voiced:
                self.seg_start = max(
                    self.floor, self.buffer_start, self.done - self.pad
                )
                self.voiced_end, self.silence = frame_end, 0
            return []
        if voiced:
            self.voiced_end, self.silence = frame_end, 0
        else:
            self.silence += 1
            if self.silence >= self.silence_frames:
                return [self._emit(min(self.voiced_end + self.pad, frame_end))]
        if frame_end - self.seg_start >= self.max_len:
            return [self._cut(frame_end)]
        return []

    def _cut(self, frame_end: int) -> SpeechSegment:
        """Cut a too-long open segment at the quietest frame after min_cut_s; the
        rest stays open as a new segment."""
        low = self.seg_start + self.min_cut
        cut = low + quietest_point(self._slice(low, frame_end), self.frame)
        segment = self._emit(cut)
        self.seg_start = cut
        return segment

    def _emit(self, end: int) -> SpeechSegment:
        segment = SpeechSegment(self.seg_start, self._slice(self.seg_start, end).copy())
        self.floor, self.seg_start = end, None
        return segment

    def _slice(self, start: int, end: int) -> np.ndarray:
        return self.buffer[start - self.buffer_start : end - self.buffer_start]

    def _trim(self) -> None:
        """Drop audio that no segment can still use."""
        if self.seg_start is not None:
            keep = self.seg_start
        else:
            keep = max(self.floor, self.done - self.pad)
        drop = keep - self.buffer_start
        if drop > 0:
            self.buffer = self.buffer[drop:]
            self.buffer_start = keep


def iter_segments(
    path: str | Path, config: VadConfig = VadConfig(), block_s: float = BLOCK_S
) -> Iterator[tuple[float, float, np.ndarray]]:
    """Speech segments of an audio file, read block by block.

    Args:
        path: any file ``asr.load_audio`` reads.
        config: VAD settings.
        block_s: seconds read from the file at a time.

    Yields:
        (start_s, end_s, samples): times in seconds from the start of the file and
        the (N,) float32 16 kHz samples between them.

    Raises:
        AudioError: unreadable audio (possibly after some segments were yielded).
    """
    segmenter = VadSegmenter(config)
    for block in read_blocks(path, block_s):
        for segment in segmenter.push(block):
            yield _timed(segment)
    for segment in segmenter.flush():
        yield _timed(segment)


def split_segments(
    samples: np.ndarray, config: VadConfig = VadConfig()
) -> list[tuple[float, float, np.ndarray]]:
    """``iter_segments`` for (N,) float32 16 kHz samples already in memory."""
    segmenter = VadSegmenter(config)
    return [_timed(s) for s in [*segmenter.push(samples), *segmenter.flush()]]


def quietest_point(region: np.ndarray, frame: int) -> int:
    """The middle of the quietest whole ``frame``-sample frame of ``region`` (lowest
    mean square), as a sample offset into it: where a cut splits the fewest words."""
    frames = region[: len(region) // frame * frame].reshape(-1, frame)
    return int((frames**2).mean(axis=1).argmin()) * frame + frame // 2


def _timed(segment: SpeechSegment) -> tuple[float, float, np.ndarray]:
    return segment.start / SAMPLE_RATE, segment.end / SAMPLE_RATE, segment.samples


# -- is there any speech at all? (grammar matching, issue 27 M4) ----------------------

SPEECH_BAND_HZ = (300.0, 3400.0)  # the telephone band: speech's formants, not mains hum
MAX_FLATNESS = 0.4  # spectral flatness above this is noise-like (white noise: 0.47-0.6,
#                     voiced speech: below 0.05)
MIN_RISE_DB = 6.0  # a voiced frame's band energy above the quietest tenth of frames:
#                    speech comes and goes, stationary hum and noise never rise
MIN_VOICED_S = 0.06  # voiced audio that makes a recording speech: two 30 ms frames


def voiced_seconds(samples: np.ndarray, config: VadConfig = VadConfig()) -> float:
    """Seconds of ``samples`` (16 kHz float32) that look like speech: frames WebRTC's
    VAD calls speech whose telephone-band energy is above ``config.floor_dbfs`` and
    rises ``MIN_RISE_DB`` above the recording's quiet frames, with a spectrum that
    is not flat. WebRTC alone calls steady 50 Hz hum and white noise speech, and a
    grammar then turns them into commands.
    """
    frame = SAMPLE_RATE * config.frame_ms // 1000
    frames = np.asarray(samples, np.float32)[: len(samples) // frame * frame]
    frames = frames.reshape(-1, frame)
    if not len(frames):
        return 0.0
    power = np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2 + 1e-20
    freqs = np.fft.rfftfreq(frame, 1 / SAMPLE_RATE)
    in_band = (freqs >= SPEECH_BAND_HZ[0]) & (freqs <= SPEECH_BAND_HZ[1])
    share = power[:, in_band].sum(axis=1) / power.sum(axis=1)
    band_db = 10 * np.log10((frames**2).mean(axis=1) * share + 1e-20)  # (F,) dBFS
    flatness = np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)
    loud = band_db > max(config.floor_dbfs, np.percentile(band_db, 10) + MIN_RISE_DB)
    candidates = np.flatnonzero(loud & (flatness < MAX_FLATNESS))
    vad = webrtcvad.Vad(config.aggressiveness)
    pcm = (np.clip(frames, -1, 1) * 32767).astype(np.int16)
    voiced = sum(vad.is_speech(pcm[i].tobytes(), SAMPLE_RATE) for i in candidates)
    return voiced * frame / SAMPLE_RATE


def has_speech(samples: np.ndarray, config: VadConfig = VadConfig()) -> bool:
    """Does the recording hold at least ``MIN_VOICED_S`` of speech-like audio?"""
    return voiced_seconds(samples, config) >= MIN_VOICED_S
