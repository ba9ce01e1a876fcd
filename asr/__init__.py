"""asr: speech to text with MFCC features, a bidirectional RNN encoder and CTC.

>>> import asr
>>> model = asr.load_model()          # the shipped default model
>>> model.transcribe("speech.wav")    # any rate, channels or common format
"""

from importlib.metadata import PackageNotFoundError, version

from .core.cpu import wait_passively

wait_passively()  # before torch loads: idle OpenMP threads sleep, never spin

from .audio.io import SAMPLE_RATE, AudioError, AudioTooLong, load_audio, prepare_audio  # noqa: E402
from .decoding.grammar import Grammar, GrammarError, load_grammar, parse_grammar  # noqa: E402
from .decoding.match import Match  # noqa: E402
from .inference.output import FORMATS, Segment, render  # noqa: E402
from .inference.recognizer import ASRModel  # noqa: E402
from .inference.streaming import Final, Partial, StreamingRecognizer  # noqa: E402
from .inference.transcribe import load_model  # noqa: E402
from .model.checkpoint import CheckpointError  # noqa: E402

try:
    __version__ = version("asr")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "SAMPLE_RATE",
    "ASRModel",
    "AudioError",
    "AudioTooLong",
    "CheckpointError",
    "FORMATS",
    "Final",
    "Grammar",
    "GrammarError",
    "Match",
    "Partial",
    "Segment",
    "StreamingRecognizer",
    "load_audio",
    "load_grammar",
    "load_model",
    "parse_grammar",
    "prepare_audio",
    "render",
]
