"""asr: speech to text with MFCC features, a bidirectional RNN encoder and CTC.

    >>> import asr
    >>> model = asr.load_model()          # the shipped default model
    >>> model.transcribe("speech.wav")    # any rate, channels or common format
"""

from .audio import SAMPLE_RATE, AudioError, load_audio, prepare_audio
from .checkpoint import CheckpointError
from .grammar import Grammar, GrammarError, load_grammar, parse_grammar
from .match import Match
from .output import FORMATS, Segment, render
from .streaming import Final, Partial, StreamingRecognizer
from .transcribe import ASRModel, load_model

__all__ = [
    "SAMPLE_RATE",
    "ASRModel",
    "AudioError",
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
