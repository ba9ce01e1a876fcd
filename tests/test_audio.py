import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from conftest import DATA, KATHLEEN

from asr.audio.features import Frontend, FrontendConfig
from asr.audio.io import HOP_LENGTH, SAMPLE_RATE, AudioError, load_audio, prepare_audio


def tone(rate: int, seconds: float = 0.5, channels: int = 1, freq=440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 96000])
def test_any_rate_becomes_16k(tmp_path, rate):
    path = tmp_path / f"tone_{rate}.wav"
    sf.write(path, tone(rate), rate)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - SAMPLE_RATE // 2) <= 2
    # the 440 Hz tone survives resampling: its spectrum peaks at 440 Hz
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(wave) - 440) < 5


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channels_are_averaged(tmp_path, channels):
    path = tmp_path / "multi.wav"
    data = tone(44100, channels=channels)
    if channels > 1:
        data[:, 1:] = 0.0  # mean of one tone and silent channels
    sf.write(path, data, 44100)
    wave = load_audio(path)
    assert np.abs(wave).max() == pytest.approx(0.5 / channels, rel=0.05)


@pytest.mark.parametrize(
    "ext, subtype",
    [("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "FLOAT"), ("wav", "PCM_U8"),
     ("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")],
)  # fmt: skip
def test_formats(tmp_path, ext, subtype):
    path = tmp_path / f"tone.{ext}"
    sf.write(path, tone(22050), 22050, subtype=subtype)
    wave = load_audio(path)
    assert abs(len(wave) / SAMPLE_RATE - 0.5) < 0.06  # mp3 adds encoder padding
    assert 0.3 < np.abs(wave).max() < 0.7


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
@pytest.mark.parametrize("ext, codec", [("webm", "libopus"), ("m4a", "aac")])
def test_ffmpeg_containers(tmp_path, ext, codec):
    src, out = DATA / "2_jackson_1.wav", tmp_path / f"speech.{ext}"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(src), "-c:a", codec, str(out)], check=True
    )
    wave, reference = load_audio(out), load_audio(src)
    assert abs(len(wave) - len(reference)) < 0.1 * SAMPLE_RATE


def test_real_recordings_load():
    wave = load_audio(KATHLEEN[0])
    assert 3.0 < len(wave) / SAMPLE_RATE < 3.6
    assert load_audio(DATA / "4_theo_2.wav").dtype == np.float32  # 8 kHz source


def test_bad_inputs(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.touch()
    noise = tmp_path / "noise.wav"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all\n" * 50)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes((DATA / "2_jackson_1.wav").read_bytes()[:30])
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, dtype=np.float32), 16000)
    nan = tmp_path / "nan.wav"
    sf.write(
        nan, np.array([0.0, np.nan, 0.1], dtype=np.float32), 16000, subtype="FLOAT"
    )
    cases = {
        tmp_path / "missing.wav": "no such file",
        tmp_path: "not a regular file",
        empty: "empty file",
        noise: None,
        text: None,
        truncated: None,
        zero: "no audio samples",
        nan: "NaN",
    }
    for path, reason in cases.items():
        with pytest.raises(AudioError, match=reason) as info:
            load_audio(path)
        assert str(path) in str(info.value)


def test_prepare_audio_from_arrays():
    int16 = (tone(48000) * 32767).astype(np.int16)
    wave = prepare_audio(int16, 48000)
    assert len(wave) == SAMPLE_RATE // 2 and np.abs(wave).max() == pytest.approx(
        0.5, 0.01
    )
    with pytest.raises(AudioError, match="implausible"):
        prepare_audio(int16, 0)
    with pytest.raises(AudioError):
        prepare_audio(np.zeros((2, 2, 2)), 16000)
    assert prepare_audio(np.zeros(1, np.float32), 16000).shape == (1,)


def test_mfcc_frame_count_from_constants(frontend):
    for n in [1, 159, 160, 16000, 16123]:
        feats, lens = frontend(torch.zeros(1, n), torch.tensor([n]))
        assert feats.shape == (1, n // HOP_LENGTH + 1, FrontendConfig().n_features)
        assert lens.tolist() == [n // HOP_LENGTH + 1]


def test_mfcc_matches_torchaudio_reference():
    cfg = FrontendConfig(normalize=False)
    wave = torch.from_numpy(load_audio(KATHLEEN[0]))
    mel = torchaudio.transforms.MelSpectrogram(
        SAMPLE_RATE, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels,
        f_min=cfg.f_min, f_max=cfg.f_max,
    )(wave)  # fmt: skip
    dct = torchaudio.functional.create_dct(cfg.n_mfcc, cfg.n_mels, "ortho")
    expected = torch.log(mel + 1e-6).T @ dct  # (T, n_mfcc)
    feats, _ = Frontend(cfg)(wave[None], torch.tensor([len(wave)]))
    torch.testing.assert_close(feats[0], expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("deltas", [0, 2])
def test_batched_features_match_single(deltas):
    """An utterance gets the same features alone and in a zero-padded batch."""
    frontend = Frontend(FrontendConfig(deltas=deltas))
    names = ("2_jackson_1.wav", "4_theo_2.wav", "8_george_3.wav")
    waves = [torch.from_numpy(load_audio(DATA / n)) for n in names]
    lens = torch.tensor([len(w) for w in waves])
    batch = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)
    feats, feat_lens = frontend(batch, lens)
    for i, wave in enumerate(waves):
        single, _ = frontend(wave[None], lens[i : i + 1])
        n = int(feat_lens[i])
        assert (feats[i, n:] == 0).all()  # padded frames are zero
        torch.testing.assert_close(feats[i, :n], single[0], atol=1e-4, rtol=1e-4)


def test_normalised_features_have_zero_mean_unit_variance(frontend):
    wave = torch.from_numpy(load_audio(KATHLEEN[0]))
    feats, _ = frontend(wave[None], torch.tensor([len(wave)]))
    assert feats[0].mean(0).abs().max() < 1e-3
    assert (feats[0].std(0, unbiased=False) - 1).abs().max() < 1e-2


def test_deltas_triple_the_features():
    frontend = Frontend(FrontendConfig(deltas=2))
    feats, _ = frontend(torch.randn(2, 8000), torch.tensor([8000, 4000]))
    assert (
        feats.shape[-1]
        == 3 * FrontendConfig().n_mfcc
        == FrontendConfig(deltas=2).n_features
    )


def test_silence_gives_finite_features(frontend):
    feats, _ = frontend(torch.zeros(1, 16000), torch.tensor([16000]))
    assert torch.isfinite(feats).all()
