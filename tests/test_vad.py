import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from conftest import DATA, DIGITS, KATHLEEN, ROOT

from asr.audio.blocks import StreamResampler, read_blocks
from asr.audio.io import SAMPLE_RATE, AudioError, load_audio
from asr.audio.vad import VadConfig, VadSegmenter, split_segments

GAP_S = 1.0  # silence between utterances in the synthetic recordings
HANGOVER_S = 0.3  # WebRTC's VAD keeps calling speech for a few frames after it ends


def within_one(start, end, spans, config: VadConfig | None = None) -> bool:
    """The segment lies inside one utterance, widened by the padding (and the VAD's
    hangover at the end): it neither straddles a pause nor drifts in time."""
    config = config or VadConfig()
    before, after = (
        config.padding_s + config.frame_ms / 1000,
        config.padding_s + HANGOVER_S,
    )
    return any(a - before <= start and end <= b + after for a, b in spans)


def speech_with_pauses(repeats: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Real recordings (the four digits and the Kathleen sentence) one after the
    other, ``repeats`` times, GAP_S of silence between them; with where each is."""
    clips = [load_audio(DATA / name) for name in DIGITS] + [load_audio(KATHLEEN[0])]
    pieces, spans, t = [np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)], [], GAP_S
    for _ in range(repeats):
        for clip in clips:
            pieces += [clip, np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)]
            spans.append((t, t + len(clip) / SAMPLE_RATE))
            t += len(clip) / SAMPLE_RATE + GAP_S
    return np.concatenate(pieces), spans


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_stream_resampler_matches_one_shot(rate):
    x = np.random.default_rng(rate).standard_normal(rate * 2 + 13).astype(np.float32)
    expected = torchaudio.functional.resample(torch.from_numpy(x), rate, SAMPLE_RATE)
    resampler, out, i = StreamResampler(rate), [], 0
    for size in [1, 100, 4000, 7, 30000] * 20:
        out.append(resampler.push(x[i : i + size]))
        i += size
    out.append(resampler.flush())
    got = np.concatenate(out)
    assert len(got) == len(expected)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)


def test_read_blocks_equals_load_audio(tmp_path):
    wave = load_audio(KATHLEEN[0])
    path = tmp_path / "k44.flac"
    sf.write(
        path,
        np.repeat(
            torchaudio.functional.resample(
                torch.from_numpy(wave), SAMPLE_RATE, 44100
            ).numpy()[:, None],
            2,
            axis=1,
        ),
        44100,
    )
    blocks = list(read_blocks(path, block_s=0.7))
    assert len(blocks) > 4
    np.testing.assert_allclose(np.concatenate(blocks), load_audio(path), atol=1e-4)


def test_read_blocks_reports_bad_files(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"RIFF0000WAVEjunk")
    (tmp_path / "empty.wav").write_bytes(b"")
    for name, reason in [("junk.wav", "not a readable"), ("empty.wav", "empty"),
                         ("missing.wav", "no such file")]:  # fmt: skip
        with pytest.raises(AudioError, match=reason):
            list(read_blocks(tmp_path / name))


def test_segments_fall_on_the_pauses():
    wave, spans = speech_with_pauses(repeats=2)
    segments = split_segments(wave)
    for start, end, samples in segments:
        assert len(samples) == round((end - start) * SAMPLE_RATE)
        assert within_one(start, end, spans), (start, end)
    for a, b in spans:  # every utterance is heard, inside some segment
        assert any(start < b and a < end for start, end, _ in segments)
    starts = [s for s, _, _ in segments]
    assert starts == sorted(starts)


def test_silence_gives_no_segments():
    assert split_segments(np.zeros(5 * SAMPLE_RATE, np.float32)) == []


def test_long_voiced_stretch_is_cut_below_the_maximum():
    wave, _ = speech_with_pauses(repeats=5)  # ~34 s; pauses are ignored below
    config = VadConfig(min_silence_s=5.0, max_segment_s=8.0, min_cut_s=4.0)
    segments = split_segments(wave, config)
    assert len(segments) >= 4
    assert all(end - start <= config.max_segment_s + 1e-9 for start, end, _ in segments)
    cuts = [(a_end, b_start) for (_, a_end, _), (b_start, _, _)
            in zip(segments, segments[1:], strict=False)]  # fmt: skip
    assert any(a == b for a, b in cuts)  # a forced cut leaves no gap


def test_chunked_push_equals_one_push():
    wave, _ = speech_with_pauses(repeats=1)
    whole = split_segments(wave)
    segmenter, pieces = VadSegmenter(), []
    for i in range(0, len(wave), 1234):
        pieces += segmenter.push(wave[i : i + 1234])
    pieces += segmenter.flush()
    assert [(p.start, p.end) for p in pieces] == [
        (round(a * SAMPLE_RATE), round(b * SAMPLE_RATE)) for a, b, _ in whole
    ]


MEASURE = """
import json, sys
from pathlib import Path
from asr.inference.transcribe import load_model
model = load_model(sys.argv[2])
segments = list(model.transcribe_segments(sys.argv[1]))
print(json.dumps({"segments": [[s.start, s.end] for s in segments],
                  # VmHWM: ru_maxrss would carry over the parent's peak across exec
                  "max_rss_kb": int(Path("/proc/self/status").read_text()
                                    .split("VmHWM:")[1].split()[0])}))
"""


def write_long_flac(path, minutes: float) -> list[tuple[float, float]]:
    """Loop the real recordings with pauses into a FLAC of about ``minutes``."""
    wave, spans = speech_with_pauses(repeats=1)
    period = len(wave) / SAMPLE_RATE
    loops = max(1, round(minutes * 60 / period))
    with sf.SoundFile(path, "w", SAMPLE_RATE, 1, format="FLAC") as out:
        for _ in range(loops):
            out.write(wave)
    return [(a + k * period, b + k * period) for k in range(loops) for a, b in spans]


def check_long_file(path, spans, checkpoint):
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(checkpoint)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    report = json.loads(result.stdout)
    segments = report["segments"]
    print(f"peak RSS {report['max_rss_kb'] / 1024:.0f} MB")
    assert report["max_rss_kb"] < 1.5 * 1024 * 1024  # peak RSS under 1.5 GB
    assert all(end - start <= VadConfig.max_segment_s for start, end in segments)
    for start, end in segments:  # timestamps in file time: each within an utterance
        assert within_one(start, end, spans), (start, end)
    heard = sum(any(s < b and a < e for s, e in segments) for a, b in spans)
    assert heard == len(spans)


def test_three_minute_file_bounded_memory_and_timestamps(tmp_path, tiny_checkpoint):
    path = tmp_path / "three_minutes.flac"
    spans = write_long_flac(path, minutes=3)
    check_long_file(path, spans, tiny_checkpoint)


@pytest.mark.slow
def test_one_hour_file_under_1_5_gb(tmp_path, tiny_checkpoint):
    path = tmp_path / "hour.flac"
    spans = write_long_flac(path, minutes=60)
    check_long_file(path, spans, tiny_checkpoint)
