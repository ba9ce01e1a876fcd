"""Audio to text with a trained checkpoint: the ``ASRModel`` returned by
``load_model`` and the ``asr transcribe`` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from .alignment import WordTiming, align_words
from .audio import SAMPLE_RATE, AudioError, Frontend, load_audio, prepare_audio
from .checkpoint import CheckpointError, configs_from_state, load_checkpoint
from .decoding import (
    BeamSearchDecoder,
    add_decoder_arguments,
    decoder_from_args,
    greedy_decode,
)
from .model import Encoder
from .text import CharTokenizer

MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"
DEFAULT_MODEL = MODELS_DIR / "default.pt"  # the shipped model; $ASR_MODEL overrides it
DEFAULT_LM = MODELS_DIR / "english-3gram.arpa.gz"  # shipped word LM, used for --hotwords
MAX_WINDOW_S = 20.0  # longer audio is cut into windows of at most this many seconds
MIN_CUT_S = 10.0  # a cut falls at the quietest 10 ms frame between MIN_CUT_S and MAX
CUT_FRAME = SAMPLE_RATE // 100  # samples per frame when looking for a quiet cut


class ASRModel:
    """A frontend, an encoder and a tokenizer: everything needed to turn audio into
    text. Build it with ``load_model``."""

    def __init__(self, frontend: Frontend, encoder: Encoder, tokenizer: CharTokenizer):
        self.frontend = frontend.eval()
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer
        self.device = torch.device("cpu")

    def to(self, device: str | torch.device) -> ASRModel:
        self.device = torch.device(device)
        self.frontend.to(self.device)
        self.encoder.to(self.device)
        return self

    @property
    def frame_seconds(self) -> float:
        """Seconds per posterior frame: hop length x the encoder's time strides / rate."""
        strides = int(np.prod(self.encoder.config.time_strides))
        return self.frontend.config.hop_length * strides / self.frontend.config.sample_rate

    def transcribe(
        self,
        audio: str | Path | np.ndarray | torch.Tensor,
        sample_rate: int | None = None,
        decoder: BeamSearchDecoder | None = None,
    ) -> str:
        """Transcribe one file or one array.

        Args:
            audio: a path to any audio file, or samples as an (N,) or (N, C) array.
            sample_rate: rate of ``audio`` in Hz when it is an array (default 16 kHz).
            decoder: beam search (with an LM, hotwords); None decodes greedily.

        Returns:
            The transcript: lower-case words separated by single spaces.

        Raises:
            AudioError: unreadable, empty or non-finite audio.
        """
        windows = split_long_audio(self._samples(audio, sample_rate))
        return " ".join(t for t in self.transcribe_batch(windows, decoder=decoder) if t)

    def transcribe_words(
        self,
        audio: str | Path | np.ndarray | torch.Tensor,
        sample_rate: int | None = None,
        decoder: BeamSearchDecoder | None = None,
    ) -> list[WordTiming]:
        """Transcribe and time every word: (word, start, end, confidence,
        min_confidence), times in seconds from the start of the audio. The words
        are those ``transcribe`` returns; CTC forced alignment places them.
        """
        offset, timings = 0.0, []
        for window in split_long_audio(self._samples(audio, sample_rate)):
            log_probs, out_lens = self.posteriors([window])
            emissions = log_probs[0, : int(out_lens[0])].cpu()
            text = (decoder or self.greedy)(log_probs, out_lens)[0]
            for w in align_words(emissions, text, self.tokenizer, self.frame_seconds):
                timings.append(w._replace(start=w.start + offset, end=w.end + offset))
            offset += len(window) / SAMPLE_RATE
        return timings

    def greedy(self, log_probs: torch.Tensor, out_lens: torch.Tensor) -> list[str]:
        return greedy_decode(log_probs, out_lens, self.tokenizer)

    @staticmethod
    def _samples(audio, sample_rate: int | None) -> np.ndarray:
        if isinstance(audio, (str, Path)):
            return load_audio(audio)
        return prepare_audio(audio, sample_rate or SAMPLE_RATE)

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
        decoder: BeamSearchDecoder | None = None,
    ) -> list[str]:
        """Transcripts for 16 kHz mono waveforms, decoded ``batch_size`` at a time
        in order of length (less padding); greedy unless a ``decoder`` is given."""
        order = sorted(range(len(waves)), key=lambda i: len(waves[i]))
        texts = [""] * len(waves)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            log_probs, out_lens = self.posteriors([waves[i] for i in chunk])
            for i, text in zip(chunk, (decoder or self.greedy)(log_probs, out_lens)):
                texts[i] = text
        return texts


def split_long_audio(samples: np.ndarray) -> list[np.ndarray]:
    """Cut audio longer than MAX_WINDOW_S at the quietest 10 ms frame between
    MIN_CUT_S and MAX_WINDOW_S into each window, so words are rarely split and
    memory stays bounded however long the file."""
    max_len, min_len = int(MAX_WINDOW_S * SAMPLE_RATE), int(MIN_CUT_S * SAMPLE_RATE)
    windows, start = [], 0
    while len(samples) - start > max_len:
        region = samples[start + min_len : start + max_len]
        frames = region[: len(region) // CUT_FRAME * CUT_FRAME].reshape(-1, CUT_FRAME)
        quietest = int((frames**2).mean(axis=1).argmin())
        cut = start + min_len + quietest * CUT_FRAME + CUT_FRAME // 2
        windows.append(samples[start:cut])
        start = cut
    windows.append(samples[start:])
    return windows


def load_model(path: str | Path | None = None, device: str = "cpu") -> ASRModel:
    """Load a checkpoint written by ``asr train``.

    Args:
        path: checkpoint file; None loads $ASR_MODEL or the shipped default model.
        device: "cpu", "cuda", "cuda:1", ...

    Raises:
        CheckpointError: the file is missing, truncated, unsafe or incompatible.
    """
    path = Path(path or os.environ.get("ASR_MODEL") or DEFAULT_MODEL)
    state = load_checkpoint(path)
    model_config, frontend_config = configs_from_state(state)
    encoder = Encoder(model_config)
    try:
        encoder.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not match its config ({error})") from None
    tokenizer = CharTokenizer(state["vocab"])
    return ASRModel(Frontend(frontend_config), encoder, tokenizer).to(device)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr transcribe", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = "Transcribe audio files (wav, flac, ogg, mp3; more with ffmpeg)."
    parser.add_argument("files", nargs="+", type=Path, help="audio files to transcribe")
    parser.add_argument(
        "--model", type=Path, default=None,
        help="checkpoint to use (default: $ASR_MODEL, else the shipped default model)",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1")
    parser.add_argument(
        "--word-timestamps", action="store_true",
        help="print one 'start end confidence word' line per word (seconds)",
    )  # fmt: skip
    add_decoder_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Transcribe every file; report each bad one on stderr and go on.

    Returns:
        0 when every file was transcribed, 1 otherwise.
    """
    try:
        model = load_model(args.model, device=args.device)
        decoder = decoder_from_args(args, model.tokenizer.vocab, DEFAULT_LM)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = 0
    for path in args.files:
        try:
            if args.word_timestamps:
                words = model.transcribe_words(path, decoder=decoder)
                text = "\n".join(f"{w.start:.2f}\t{w.end:.2f}\t{w.confidence:.3f}\t{w.word}"
                                 for w in words)  # fmt: skip
            else:
                text = model.transcribe(path, decoder=decoder)
        except AudioError as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        if len(args.files) > 1:  # name each file: on the line, or above its words
            text = f"# {path}\n{text}" if args.word_timestamps else f"{path}\t{text}"
        if text or not args.word_timestamps:  # no words: no timing lines
            print(text, flush=True)
    if failed:
        print(f"{failed} of {len(args.files)} files failed", file=sys.stderr)
    return 1 if failed else 0


def cli(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
