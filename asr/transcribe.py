"""Audio to text with a trained checkpoint: the ``ASRModel`` returned by
``load_model`` and the ``asr transcribe`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from . import options
from .alignment import WordTiming, align_words, speech_confidence
from .audio import SAMPLE_RATE, Frontend, load_audio, prepare_audio
from .batch import transcribe_files
from .checkpoint import (
    MODELS_DIR,
    CheckpointError,
    configs_from_state,
    is_exported,
    load_checkpoint,
)
from .cpu import add_threads_argument, set_threads
from .decoder_args import (
    Decoder,
    DecoderChoice,
    add_decoder_arguments,
    decoder_config_path,
    decoder_for_args,
    describe_decoder,
)
from .decoding import greedy_decode
from .match import (
    GrammarDecoder,
    Match,
    add_grammar_arguments,
    grammar_decoder,
    match_files,
)
from .model import Encoder
from .output import FORMATS, Segment, output_formats
from .text import CharTokenizer
from .vad import VadConfig, iter_segments, split_segments

DEFAULT_MODEL = MODELS_DIR / "default.pt"  # the shipped model; $ASR_MODEL overrides it
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
    asr/decoder_args.py): "auto" (the default) decodes with the LM beam search the
    model ships (``<name>.decoder.json``), or greedily when it ships none; "greedy"
    (or None) always decodes greedily; "beam" uses the shipped LM settings, else the
    shipped English LM; or pass a ``BeamSearchDecoder``.
    """

    def __init__(self, frontend: Frontend, encoder: Encoder, tokenizer: CharTokenizer):
        self.frontend = frontend.eval()
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer
        self.device = torch.device("cpu")
        self.threads = 1  # torch CPU threads it was loaded with (asr.cpu)
        self.min_confidence = 0.0  # segments below this speech_confidence get no text

    def to(self, device: str | torch.device) -> ASRModel:
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
                ``asr.grammar``): the audio is one command, and the result a
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
            emissions = log_probs[0, : int(out_lens[0])].cpu()
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
        """Which sentence of ``grammar`` all of ``audio`` is (see ``transcribe``)."""
        if isinstance(audio, (str, Path)):
            samples = load_audio(audio)
        else:
            rate = SAMPLE_RATE if sample_rate is None else sample_rate
            samples = prepare_audio(audio, rate)
        decoder = grammar
        if not isinstance(grammar, GrammarDecoder):
            decoder = self.grammar_decoder(grammar)
        return self.transcribe_batch([samples], decoder=decoder)[0]

    def greedy(self, log_probs: torch.Tensor, out_lens: torch.Tensor) -> list[str]:
        return greedy_decode(log_probs, out_lens, self.tokenizer)

    @torch.inference_mode()
    def posteriors(self, waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log posteriors (B, T', V) and their lengths for 16 kHz waveforms."""
        lens = torch.tensor([len(w) for w in waves])
        batch = torch.zeros(len(waves), int(lens.max()))
        for i, w in enumerate(waves):
            batch[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
        feats, feat_lens = self.frontend(batch.to(self.device), lens.to(self.device))
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
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            log_probs, out_lens = self.posteriors([waves[i] for i in chunk])
            # decoders return one text per utterance of the batch
            for i, text in zip(chunk, decode(log_probs, out_lens), strict=True):
                texts[i] = text
        return texts


def load_model(
    path: str | Path | None = None, device: str = "cpu", threads: int | None = None
) -> ASRModel:
    """Load a checkpoint written by ``asr train``.

    Args:
        path: checkpoint file, or a folder NAME holding NAME.pt (``asr adapt``);
            None loads $ASR_MODEL or the shipped default model.
        device: "cpu", "cuda", "cuda:1", ...
        threads: torch CPU threads for this process (``asr.cpu.set_threads``:
            None means $ASR_THREADS, else 1).

    Raises:
        CheckpointError: the file is missing, truncated, unsafe or incompatible.
    """
    threads = set_threads(threads)
    path = Path(path or os.environ.get("ASR_MODEL") or DEFAULT_MODEL)
    if path.is_dir():  # a model folder (asr adapt): NAME/NAME.pt
        path = path / f"{path.name}.pt"
    if is_exported(path):  # a TorchScript file from `asr export`
        from .export import load_exported  # export imports this module

        exported = load_exported(path, device=device)
        exported.threads = threads
        return exported
    state = load_checkpoint(path)
    model_config, frontend_config = configs_from_state(state, path)
    encoder = Encoder(model_config)
    try:
        encoder.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(
            f"{path}: weights do not match its config ({error})"
        ) from None
    tokenizer = CharTokenizer(state["vocab"])
    model = ASRModel(Frontend(frontend_config), encoder, tokenizer).to(device)
    sidecar = decoder_config_path(path)
    model.decoder_config = sidecar if sidecar.is_file() else None
    model.threads = threads
    return model


def build_parser(
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr transcribe", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = (
        "Transcribe audio files (wav, flac, ogg, mp3; more with ffmpeg)."
    )
    parser.add_argument(
        "files", nargs="+", metavar="INPUT",
        help="audio files, directories (searched recursively) and glob patterns",
    )  # fmt: skip
    parser.add_argument(
        "--model", type=Path, default=None,
        help="checkpoint to use (default: $ASR_MODEL, else the shipped default model)",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", type=options.device,
                        help="torch device: cpu, cuda, cuda:1")  # fmt: skip
    parser.add_argument(
        "--output-format", default="txt", type=output_formats,
        help=f"comma-separated formats out of {','.join(FORMATS)} (any case), or "
        "all; several formats, and srt/vtt of several inputs, need --output-dir; json "
        "of several inputs on stdout is JSON Lines",
    )  # fmt: skip
    parser.add_argument(
        "--output-dir", type=Path, default=None,
        help="write <name>.<format> per input here (directories keep their layout); "
        "default: print to stdout",
    )  # fmt: skip
    parser.add_argument(
        "--word-timestamps", action="store_true",
        help="time every word: one 'start end confidence word' line per word in txt, "
        "a row per word in tsv, a words list (start, end, confidence) per segment in "
        "json, cue timestamps in vtt (srt cannot hold them)",
    )  # fmt: skip
    parser.add_argument(
        "--min-confidence", type=options.unit_interval, default=0.0,
        help="drop the text of segments whose mean best-label posterior is below this "
        "(noise and tones; 0 keeps everything; see docs/reliability.md)",
    )  # fmt: skip
    options.add_verbosity_arguments(parser)
    add_decoder_arguments(parser, greedy=True)
    add_grammar_arguments(parser)
    add_threads_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Transcribe every input; report each bad one on stderr and go on.

    Returns:
        0 when every file was transcribed, 1 when any failed, 2 for a bad
        checkpoint or bad options.
    """
    try:
        model = load_model(args.model, device=args.device, threads=args.threads)
        if getattr(args, "grammar", None) is not None:  # a grammar is its own decoder
            return match_files(model, [str(f) for f in args.files], args)
        decoder = decoder_for_args(args, model)
        model.min_confidence = getattr(args, "min_confidence", 0.0)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    formats = getattr(args, "output_format", ["txt"])
    output_dir = getattr(args, "output_dir", None)
    if len(formats) > 1 and output_dir is None:
        print(
            "error: several --output-format values need --output-dir", file=sys.stderr
        )
        return 2
    if getattr(args, "verbose", False):
        print(f"model: {args.model or 'default'}; decoding: "
              f"{describe_decoder(decoder)}", file=sys.stderr)  # fmt: skip
    words = getattr(args, "word_timestamps", False)
    return transcribe_files(
        model, [str(f) for f in args.files], formats, output_dir,
        decoder=decoder, words=words, quiet=getattr(args, "quiet", False),
    )  # fmt: skip


def cli(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
