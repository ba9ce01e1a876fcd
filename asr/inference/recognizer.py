"""``ASRModel``: a frontend, an encoder and a tokenizer, turning audio into text
(greedy, LM beam search, grammar matching, word timings, segments).

Torch is imported only by the methods that run the PyTorch model: the ONNX model
(asr/inference/exported.py) shares everything else and runs without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..audio.io import SAMPLE_RATE, AudioError, load_audio, prepare_audio
from ..audio.vad import VadConfig, has_speech, iter_segments, split_segments
from ..core.text import CharTokenizer
from ..decoding.alignment import WordTiming, align_words, speech_confidence
from ..decoding.greedy import greedy_decode
from ..decoding.match import MAX_MATCH_SECONDS, GrammarDecoder, Match, grammar_decoder
from ..decoding.settings import Decoder, DecoderChoice
from .output import Segment

if TYPE_CHECKING:
    import torch

    from ..audio.features import Frontend
    from ..decoding.match import GrammarDecoder, Match
    from ..model.encoder import Encoder

DEFAULT_VAD = VadConfig()  # transcribe_segments' vad= (frozen, so one is shared)


def speech_waves(path: str | Path) -> list[np.ndarray]:
    """The 16 kHz waveforms ``ASRModel.transcribe`` decodes for the file at
    ``path``: its voice-activity segments (``DEFAULT_VAD``), none without speech.
    What ``asr evaluate`` and ``asr tune-decoder`` score, so their figures are
    those of the path users' audio takes.

    Raises:
        AudioError: unreadable, empty or non-finite audio.
    """
    return [samples for *_, samples in split_segments(load_audio(path), DEFAULT_VAD)]


class ASRModel(DecoderChoice):
    """A frontend, an encoder and a tokenizer: everything needed to turn audio into
    text. Build it with ``load_model``.

    Every ``transcribe*`` method takes ``decoder=`` (resolved by ``DecoderChoice``,
    asr/decoding/settings.py): "auto" (the default) decodes with the LM beam search the
    model ships (``<name>.decoder.json``), or greedily when it ships none; "greedy"
    (or None) always decodes greedily; "beam" uses the shipped LM settings, else the
    shipped English LM; or pass a ``BeamSearchDecoder``.
    """

    def __init__(self, frontend: Frontend, encoder: Encoder, tokenizer: CharTokenizer):
        self.frontend = frontend.eval()
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer
        import torch

        self.device = torch.device("cpu")
        self.threads = 1  # torch CPU threads it was loaded with (asr.core.cpu)
        self.min_confidence = 0.0  # segments below this speech_confidence get no text

    def to(self, device: str | torch.device) -> ASRModel:
        import torch

        self.device = torch.device(device)
        self.frontend.to(self.device)
        self.encoder.to(self.device)
        return self

    @property
    def frame_seconds(self) -> float:
        """Seconds per posterior frame: hop length x the encoder's time strides /
        rate."""
        strides = int(np.prod(self.encoder.config.time_strides))
        return (
            self.frontend.config.hop_length * strides / self.frontend.config.sample_rate
        )

    def transcribe(
        self,
        audio: str | Path | np.ndarray | torch.Tensor,
        sample_rate: int | None = None,
        decoder: Decoder = "auto",
        grammar=None,
    ) -> str | Match:
        """Transcribe one file or one array.

        Args:
            audio: a path to any audio file, or samples as an (N,) or (N, C) array.
            sample_rate: rate of ``audio`` in Hz when it is an array (default 16 kHz).
            decoder: "auto" (the model's LM beam search if it ships one, else
                greedy), "greedy", "beam", or a ``BeamSearchDecoder``.
            grammar: restrict the answer to a grammar's sentences (a file path, a
                list of phrases, a ``Grammar`` or a ``GrammarDecoder``; see
                ``asr.decoding.grammar``): the audio is one command, and the result a
                ``Match`` (text, confidence, slots, intent) instead of a string.
                A grammar wins over ``decoder``.

        Returns:
            The transcript: lower-case words separated by single spaces.

        Raises:
            AudioError: unreadable, empty or non-finite audio.
            GrammarError: an unusable grammar (the message names file and line).
        """
        if grammar is not None:
            return self.match(audio, grammar, sample_rate)
        segments = self.transcribe_segments(audio, sample_rate, decoder=decoder)
        return " ".join(s.text for s in segments if s.text)

    def transcribe_words(
        self,
        audio: str | Path | np.ndarray | torch.Tensor,
        sample_rate: int | None = None,
        decoder: Decoder = "auto",
    ) -> list[WordTiming]:
        """Transcribe and time every word: (word, start, end, confidence,
        min_confidence), times in seconds from the start of the audio. The words
        are those ``transcribe`` returns; CTC forced alignment places them.
        """
        segments = self.transcribe_segments(
            audio, sample_rate, decoder=decoder, words=True
        )
        return [w for segment in segments for w in segment.words]

    def transcribe_segments(
        self,
        audio: str | Path | np.ndarray | torch.Tensor,
        sample_rate: int | None = None,
        vad: VadConfig = DEFAULT_VAD,
        batch_size: int = 16,
        decoder: Decoder = "auto",
        words: bool = False,
    ) -> Iterator[Segment]:
        """Split audio at pauses with the VAD and transcribe each segment.

        A file is read block by block and segments are decoded ``batch_size`` at a
        time, so memory stays bounded however long the file.

        Args:
            audio: a path to any audio file, or samples as an (N,) or (N, C) array.
            sample_rate: rate of ``audio`` in Hz when it is an array (default 16 kHz).
            vad: how to find pauses and how long a segment may be.
            batch_size: segments decoded together.
            decoder: "auto", "greedy", "beam" or a decoder (see ``transcribe``).
            words: also time every word (``Segment.words``) by CTC alignment.

        Yields:
            ``Segment(start, end, text, words)`` in order, times in seconds.

        Raises:
            AudioError: unreadable, empty or non-finite audio.
        """
        decoder = self.resolve_decoder(decoder)  # an unknown name fails before reading
        if isinstance(audio, (str, Path)):
            pieces = iter_segments(audio, vad)
        else:
            rate = SAMPLE_RATE if sample_rate is None else sample_rate  # 0 is refused
            samples = prepare_audio(audio, rate)
            pieces = iter(split_segments(samples, vad))
        batch = []
        for piece in pieces:
            batch.append(piece)
            if len(batch) == batch_size:
                yield from self._decode_pieces(batch, decoder, words)
                batch = []
        yield from self._decode_pieces(batch, decoder, words)

    def _decode_pieces(self, pieces, decoder, words: bool) -> list[Segment]:
        """Segments for (start, end, samples) pieces, optionally with word times."""
        if not pieces:
            return []
        if not words and not self.min_confidence:
            texts = self.transcribe_batch([s for _, _, s in pieces], decoder=decoder)
            return [Segment(round(a, 3), round(b, 3), t)
                    for (a, b, _), t in zip(pieces, texts, strict=True)]  # fmt: skip
        segments = []
        for start, end, samples in pieces:
            log_probs, out_lens = self.posteriors([samples])
            text = (decoder or self.greedy)(log_probs, out_lens)[0]
            if speech_confidence(log_probs, out_lens)[0] < self.min_confidence:
                text = ""  # noise, music, a tone: no speech the model is sure of
            emissions = log_probs[0, : int(out_lens[0])]
            timed = tuple(
                w._replace(start=round(w.start + start, 3), end=round(w.end + start, 3))
                for w in align_words(
                    emissions, text, self.tokenizer, self.frame_seconds
                )
            )
            segments.append(Segment(round(start, 3), round(end, 3), text, timed))
        return segments

    def grammar_decoder(self, grammar, allow_unk: bool | None = None) -> GrammarDecoder:
        """A decoder constrained to ``grammar`` (path, phrases or ``Grammar``) for
        this model's characters; pass it to ``transcribe_batch`` or
        ``StreamingRecognizer`` to get ``Match`` results."""

        return grammar_decoder(grammar, self.tokenizer, allow_unk)

    def match(self, audio, grammar, sample_rate: int | None = None) -> Match:
        """Which sentence of ``grammar`` all of ``audio`` is (see ``transcribe``).

        Raises:
            AudioError: audio longer than ``MAX_MATCH_SECONDS`` (a command is short;
                hours of it would take gigabytes) or unreadable.
        """
        if isinstance(audio, (str, Path)):
            samples = load_audio(audio, max_seconds=MAX_MATCH_SECONDS)
        else:
            rate = SAMPLE_RATE if sample_rate is None else sample_rate
            samples = prepare_audio(audio, rate)
        if len(samples) > MAX_MATCH_SECONDS * SAMPLE_RATE:
            raise AudioError(
                f"{len(samples) / SAMPLE_RATE:.0f} s of audio; a grammar matches one "
                f"command of at most {MAX_MATCH_SECONDS} s (StreamingRecognizer "
                "matches each pause-delimited segment of longer audio)"
            )
        decoder = grammar
        if not isinstance(grammar, GrammarDecoder):
            decoder = self.grammar_decoder(grammar)
        return self.transcribe_batch([samples], decoder=decoder)[0]

    def greedy(self, log_probs: torch.Tensor, out_lens: torch.Tensor) -> list[str]:
        return greedy_decode(log_probs, out_lens, self.tokenizer)

    def posteriors(self, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log posteriors (B, T', V) and their lengths for 16 kHz waveforms."""
        import torch

        lens = torch.tensor([len(w) for w in waves])
        batch = torch.zeros(len(waves), int(lens.max()))
        for i, w in enumerate(waves):
            batch[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
        with torch.inference_mode():
            feats, feat_lens = self.frontend(
                batch.to(self.device), lens.to(self.device)
            )
            return self.encoder(feats, feat_lens)

    def transcribe_batch(
        self,
        waves: list[np.ndarray],
        batch_size: int = 16,
        decoder: Decoder = "auto",
    ) -> list[str]:
        """Transcripts for 16 kHz mono waveforms, decoded ``batch_size`` at a time
        in order of length (less padding), with ``decoder`` as in ``transcribe``."""
        decode = self.resolve_decoder(decoder) or self.greedy
        order = sorted(range(len(waves)), key=lambda i: len(waves[i]))
        texts = [""] * len(waves)
        if isinstance(decode, GrammarDecoder):  # non-speech is never a command
            for i in order:
                texts[i] = None if has_speech(waves[i]) else decode.nothing_voiced()
            order = [i for i in order if texts[i] is None]
        # digital silence (every sample equal) normalises to all-zero features, which
        # say nothing, but a model may still read a letter in them: it is no speech
        order = [i for i in order if len(waves[i]) and np.ptp(waves[i]) > 0]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            log_probs, out_lens = self.posteriors([waves[i] for i in chunk])
            # decoders return one text per utterance of the batch
            for i, text in zip(chunk, decode(log_probs, out_lens), strict=True):
                texts[i] = text
        return texts
