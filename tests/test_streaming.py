import numpy as np
import pytest
import torch
import torchaudio
from test_vad import speech_with_pauses

from asr.audio.io import SAMPLE_RATE
from asr.inference.streaming import Final, Partial, StreamingRecognizer
from asr.inference.transcribe import load_model

RATE = 48_000  # a typical microphone rate
CHUNK_S = 0.5


def stereo_int16_at_48k(wave: np.ndarray) -> np.ndarray:
    """16 kHz float mono -> (N, 2) int16 at 48 kHz, as a sound card delivers it."""
    up = torchaudio.functional.resample(
        torch.from_numpy(wave), SAMPLE_RATE, RATE
    ).numpy()
    pcm = np.clip(np.round(up * 32768), -32768, 32767).astype(np.int16)
    return np.stack([pcm, pcm], axis=1)


def run_stream(recognizer, audio, rate=RATE, chunk_s=CHUNK_S):
    events, work = [], []
    step = int(chunk_s * rate)
    for i in range(0, len(audio), step):
        events += recognizer.accept(audio[i : i + step], rate)
        work.append(recognizer.decoded_last_call)
    events += recognizer.flush()
    work.append(recognizer.decoded_last_call)
    return events, work


@pytest.fixture
def model(tiny_checkpoint):
    return load_model(tiny_checkpoint)


def test_finals_match_the_file_transcript(model):
    wave, spans = speech_with_pauses(repeats=2)
    audio = stereo_int16_at_48k(wave)
    events, _ = run_stream(StreamingRecognizer(model), audio)
    finals = [e for e in events if isinstance(e, Final)]
    expected = list(model.transcribe_segments(audio, sample_rate=RATE))
    assert len(finals) == len(expected) >= len(spans)
    for final, segment in zip(finals, expected, strict=True):
        assert final.text == segment.text
        assert (
            abs(final.start - segment.start) < 1e-3
            and abs(final.end - segment.end) < 1e-3
        )
    assert any(isinstance(e, Partial) for e in events)
    assert [f.start for f in finals] == sorted(f.start for f in finals)


def test_work_per_chunk_is_bounded_however_long_the_speech(model):
    wave, _ = speech_with_pauses(repeats=3)  # ~30 s with pauses ignored below
    recognizer = StreamingRecognizer(model, max_segment_s=4.0, partial_every_s=0.5)
    recognizer.segmenter.silence_frames = 10_000  # no pause ever closes a segment
    events, work = run_stream(recognizer, stereo_int16_at_48k(wave))
    finals = [e for e in events if isinstance(e, Final)]
    assert len(finals) >= 7  # closed by the length cap alone
    assert all(f.end - f.start <= 4.0 + 1e-9 for f in finals)
    assert max(work) <= 4.0 * SAMPLE_RATE
    assert sum(isinstance(e, Partial) for e in events) >= 20


def test_silence_yields_nothing(model):
    recognizer = StreamingRecognizer(model)
    silence = np.zeros((10 * RATE, 2), dtype=np.int16)
    events, work = run_stream(recognizer, silence)
    assert events == [] and max(work) == 0
    assert recognizer.accept(np.zeros(0, dtype=np.float32), RATE) == []
    assert recognizer.flush() == []


def test_rate_change_and_odd_chunks_do_not_lose_audio(model):
    wave, _ = speech_with_pauses(repeats=1)
    half = len(wave) // 2
    recognizer = StreamingRecognizer(model, partial_every_s=0)
    events = []
    for i in range(0, half, 777):  # 16 kHz float, ragged chunks
        events += recognizer.accept(wave[i : min(i + 777, half)], SAMPLE_RATE)
    rest = stereo_int16_at_48k(wave[half:])
    for i in range(0, len(rest), 4801):
        events += recognizer.accept(rest[i : i + 4801], RATE)
    events += recognizer.flush()
    assert all(isinstance(e, Final) for e in events)
    total = len(wave) / SAMPLE_RATE
    assert events and events[-1].end <= total + 0.01
    assert len(events) == len(list(load_model_segments(model, wave)))


def load_model_segments(model, wave):
    return model.transcribe_segments(wave, sample_rate=SAMPLE_RATE)
