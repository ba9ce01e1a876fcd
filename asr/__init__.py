"""asr: speech to text with MFCC features, a bidirectional RNN encoder and CTC.

    >>> import asr
    >>> model = asr.load_model()          # the shipped default model
    >>> model.transcribe("speech.wav")    # any rate, channels or common format
"""

from importlib.metadata import PackageNotFoundError, version

from .audio import SAMPLE_RATE, AudioError, load_audio, prepare_audio
from .checkpoint import CheckpointError
from .output import FORMATS, Segment, render
from .streaming import Final, Partial, StreamingRecognizer
from .transcribe import ASRModel, load_model

try:
    __version__ = version("asr")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "SAMPLE_RATE",
    "ASRModel",
    "AudioError",
    "CheckpointError",
    "FORMATS",
    "Final",
    "Partial",
    "Segment",
    "StreamingRecognizer",
    "load_audio",
    "load_model",
    "prepare_audio",
    "render",
]
