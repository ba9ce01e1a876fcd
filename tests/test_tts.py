"""asr.synthesis.tts and asr.synthesis.channel: the pinned voice inventory, speaking
with each engine (skipped where a voice is not installed), and the seeded
speaker/channel variation."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA

from asr.synthesis import channel, tts


def test_inventory_is_pinned():
    ids = [v.id for v in tts.VOICES]
    assert len(ids) == len(set(ids)) == 50
    counts = {e: sum(v.engine == e for v in tts.VOICES) for e in tts._ENGINES}
    assert counts == {"espeak-ng": 8, "mbrola": 20, "festival": 9, "pico": 2,
                      "rhvoice": 4, "flite": 5, "piper": 1, "hibari": 1}  # fmt: skip
    named = ["mbrola:mb-us1", "mbrola:mb-de6-en", "pico:en-GB", "rhvoice:alan",
             "festival:cmu_us_slt_arctic_hts", "piper:en_US-joe-medium",
             "hibari:heart", "espeak-ng:en-US"]  # fmt: skip
    for wanted in named:
        assert tts.find_voice(wanted).id == wanted
    # CC BY-NC-ND RHVoice voices are not in the inventory
    assert not {"rhvoice:evgeniy-eng", "rhvoice:lyubov"} & set(ids)
    with pytest.raises(ValueError, match="unknown voice"):
        tts.find_voice("rhvoice:lyubov")
    for voice in tts.VOICES:
        assert voice.licence and voice.package and voice.sex in ("", "F", "M")
        assert voice.natural == (voice.engine not in ("espeak-ng", "flite"))
    mbrola_data = [v for v in tts.VOICES if "mbrola" in v.name or v.engine == "mbrola"]
    assert len(mbrola_data) == 24 and all("sold" in v.licence for v in mbrola_data)


def test_available_voices_are_inventory_voices():
    available = tts.available_voices()
    assert set(available) <= set(tts.VOICES)
    order = [tts.VOICES.index(v) for v in available]
    assert order == sorted(order)


def _one_per_engine():
    seen = {}
    for voice in tts.VOICES:
        seen.setdefault(voice.engine, voice)
    return list(seen.values())


@pytest.mark.parametrize("voice", _one_per_engine(), ids=lambda v: v.id)
def test_speak_returns_16khz_speech(voice):
    if not tts.is_installed(voice):
        pytest.skip(f"{voice.id} not installed (recipes/english/install_voices.sh)")
    wave = tts.speak(voice, "Rain fell softly on the quiet town.", seed=1)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 1.0 < len(wave) / 16_000 < 6.0  # seconds of a seven-word sentence
    assert np.sqrt(np.mean(wave**2)) > 0.005 and np.abs(wave).max() <= 1.0
    assert np.array_equal(wave, tts.speak(voice, "Rain fell softly on the quiet town.",
                                          seed=1))  # fmt: skip
    faster = tts.speak(voice, "Rain fell softly on the quiet town.", seed=1, rate=1.4)
    assert len(faster) < 0.9 * len(wave)  # rate is honoured, natively or by WSOLA


@pytest.fixture
def speech():
    samples, rate = sf.read(DATA / "arctic_a0001.flac", dtype="float32")
    assert rate == 16_000
    return samples


def test_vary_is_seeded_and_changes_the_audio(speech):
    out = tts.vary(speech, seed=5)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out).max() < 1.0
    assert np.array_equal(out, tts.vary(speech, seed=5))
    others = [tts.vary(speech, seed=s) for s in range(6, 10)]
    assert all(len(o) != len(out) or not np.allclose(o, out) for o in others)
    assert np.array_equal(tts.vary(speech, seed=5, strength=0.0), speech)


def test_draws_cover_the_spread():
    draws = [channel.draw_variation(s) for s in range(400)]
    share = lambda f: np.mean([bool(f(d)) for d in draws])  # noqa: E731
    assert 0.75 < share(lambda d: d.warp != 1.0) < 0.95
    assert 0.4 < share(lambda d: d.rt60) < 0.6
    assert 0.05 < share(lambda d: d.telephone) < 0.16
    assert 0.25 < share(lambda d: d.breath_db) < 0.45
    assert all(0.85 <= d.warp <= 1.18 and 0.05 <= d.lead_s <= 1.05 for d in draws)
    assert all(-78 <= d.floor_db <= -60 for d in draws)
    assert {d.noise for d in draws} == {"white", "pink", "brown", "hum"}
    assert all(8 <= d.snr_db <= 60 for d in draws)
    assert channel.draw_variation(3, strength=0) == channel.Variation()
    assert "warp=" in channel.draw_variation(0).describe()


def test_warp_moves_pitch_and_formants_but_keeps_length():
    t = np.arange(16_000) / 16_000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    out = channel.warp_voice(tone, 1.1)
    assert abs(len(out) - len(tone)) < 0.02 * len(tone)
    peak = np.argmax(np.abs(np.fft.rfft(out))) * 16_000 / len(out)
    assert peak == pytest.approx(1100, abs=15)
    slow = channel.change_tempo(tone, 0.8)
    assert len(slow) == pytest.approx(len(tone) / 0.8, rel=0.02)
    peak = np.argmax(np.abs(np.fft.rfft(slow))) * 16_000 / len(slow)
    assert peak == pytest.approx(1000, abs=15)


def test_edges_add_room_tone_and_a_breath(speech):
    padded = np.concatenate(
        [np.zeros(8000, np.float32), speech, np.zeros(4000, np.float32)]
    )
    v = channel.Variation(lead_s=0.5, trail_s=0.3, breath_db=-20.0, noise="pink",
                          snr_db=30.0)  # fmt: skip
    trimmed = channel.trim(torch.from_numpy(padded))
    assert 0 < len(padded) - len(trimmed) < 12_000  # the engine's silence, cut
    plain = channel.apply_variation(padded, replace(v, breath_db=0.0), seed=1)
    assert len(plain) == len(trimmed) + 8000 + 4800  # ... and edges of our own
    out = channel.apply_variation(padded, v, seed=1)
    assert len(out) >= len(plain)  # a breath longer than the lead lengthens it
    lead = out[:8000]
    assert np.sqrt(np.mean(lead**2)) > 1e-4  # breath and room tone, not digital zero
    assert np.abs(lead).max() < np.abs(out).max() / 3  # quieter than the speech


def test_telephone_channel_removes_the_high_band(speech):
    v = channel.Variation(lead_s=0.3, trail_s=0.3, noise="white", snr_db=30.0,
                          telephone=True, level_db=-20.0)  # fmt: skip
    out = channel.apply_variation(speech, v, seed=0)
    spectrum = np.abs(np.fft.rfft(out)) ** 2
    freqs = np.fft.rfftfreq(len(out), 1 / 16_000)
    assert spectrum[freqs > 3900].sum() / spectrum.sum() < 1e-3  # mu-law noise too
    assert spectrum[freqs < 200].sum() / spectrum.sum() < 0.02  # 35 % before


def test_noise_floor_survives_16_bit_quantisation(speech):
    quiet = channel.Variation(lead_s=0.5, trail_s=0.3, noise="white", snr_db=60.0,
                              level_db=-26.0)  # fmt: skip
    for floor, low, high in [(0.0, -300, -80), (-66.0, -67, -65)]:  # none: ~silence
        out = channel.apply_variation(speech, replace(quiet, floor_db=floor), seed=2)
        pcm = np.round(out[:8000] * 32768) / 32768  # the lead, as a FLAC stores it
        rms_db = 20 * np.log10(np.sqrt(np.mean(pcm**2)) + 1e-12)
        assert low - 1 <= rms_db <= high, (floor, rms_db)
