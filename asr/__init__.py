"""asr: speech to text with MFCC features, a bidirectional RNN encoder and CTC.

>>> import asr
>>> model = asr.load_model()          # the shipped default model
>>> model.transcribe("speech.wav")    # any rate, channels or common format

The names below load on first use (PEP 562 ``__getattr__``): ``import asr`` imports
neither torch nor any model code, so a command or an ONNX deployment pays only for
what it uses.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from .core.cpu import wait_passively

wait_passively()  # before torch loads: idle OpenMP threads sleep, never spin

_EXPORTS = {  # public name -> the module that defines it
    "SAMPLE_RATE": "audio.io", "AudioError": "audio.io", "AudioTooLong": "audio.io",
    "load_audio": "audio.io", "prepare_audio": "audio.io",
    "Grammar": "decoding.grammar", "GrammarError": "decoding.grammar",
    "load_grammar": "decoding.grammar", "parse_grammar": "decoding.grammar",
    "Match": "decoding.match",
    "FORMATS": "inference.output", "Segment": "inference.output",
    "render": "inference.output",
    "ASRModel": "inference.recognizer",
    "Final": "inference.streaming", "Partial": "inference.streaming",
    "StreamingRecognizer": "inference.streaming",
    "load_model": "inference.transcribe",
    "CheckpointError": "core.files",
}  # fmt: skip

try:
    __version__ = version("asr")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'asr' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # the next lookup skips __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
