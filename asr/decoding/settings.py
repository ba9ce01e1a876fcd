"""Beam-search settings from the command line and from ``asr tune-decoder`` JSON
files: the flags ``asr transcribe``, ``asr evaluate`` and ``asr tune-decoder``
share, hotword lists, and the ``BeamSearchDecoder`` they describe; which decoder a
model uses (``DecoderChoice``: ``decoder=`` by name, the ``<name>.decoder.json``
shipped beside a checkpoint, else the shipped English LM)."""

from __future__ import annotations

import argparse
import json
import os
import threading
from pathlib import Path

from ..core.files import MODELS_DIR, InputFileError, read_text, regular_file
from ..core.options import bounded_int, finite_float, non_negative_float
from .beam import (
    MAX_BEAM_SIZE,
    MAX_HOTWORD_CHARS,
    MAX_HOTWORDS,
    BeamSearchDecoder,
    DecodeConfig,
    check_hotwords,
)

# decoder-config keys that are not settings
TUNING_NOTES = ("dev_wer", "dev_rtf", "manifest", "model")
# default bonus per hotword word, in beam-score (natural log) units
HOTWORD_WEIGHT = 3.0
DEFAULT_LM = MODELS_DIR / "english-3gram.arpa.gz"  # shipped word LM, for --hotwords
LM_SUFFIXES = (".arpa", ".arpa.gz", ".klm")  # LMs allowed outside a config's folder
DECODERS = ("auto", "greedy", "beam")  # decoder= by name ("auto": see DecoderChoice)
_DEFAULT_DECODER_LOCK = threading.Lock()  # one LM load when threads ask at once

Decoder = BeamSearchDecoder | str | None  # a decoder, one of DECODERS, or None (greedy)


def parse_hotwords(spec: str) -> tuple[tuple[str, float], ...]:
    """Hotwords from a file (one ``phrase[:weight]`` a line) or a comma-separated
    list of them: ``"Zorblax:5,new york"``. Weights default to HOTWORD_WEIGHT.
    A ``spec`` that names a FIFO, device or socket is refused, not taken as text.

    Raises:
        ValueError: a weight that is not a finite number, no hotword at all, too
            many or too long hotwords (``check_hotwords``), or a path to something
            other than a regular file of at most MAX_TEXT_BYTES.
    """
    # a very long spec, or one with a NUL, cannot be a path; one that names a file
    # is read, and one that names a FIFO or device is refused (taken as text, it
    # was a hotword nobody meant); a folder's name is just a word ("data")
    path = Path(spec) if len(spec) < 4096 and "\0" not in spec else None
    if path is not None and os.path.exists(path) and not path.is_dir():
        items = read_text(path, "hotword list").splitlines()
    else:
        items = spec.split(",")
    hotwords = []
    for item in items:
        phrase, _, weight = item.strip().partition(":")
        if not phrase.strip():
            continue
        try:
            hotwords.append(
                (phrase.strip(), float(weight) if weight else HOTWORD_WEIGHT)
            )
        except ValueError:
            raise ValueError(
                f"hotword {item.strip()[:40]!r}: weight is not a number"
            ) from None
    if not hotwords:
        raise ValueError(f"no hotwords in {spec[:40]!r}")
    check_hotwords(hotwords)
    return tuple(hotwords)


def beam_size_arg(value: str) -> int:
    """argparse type: a beam size, 1 to MAX_BEAM_SIZE."""
    return bounded_int(value, 1, MAX_BEAM_SIZE)


def hotwords_arg(value: str) -> str:
    """argparse type: a --hotwords value ``parse_hotwords`` accepts, kept as given."""
    try:
        parse_hotwords(value)
    except (ValueError, OSError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def add_decoder_arguments(parser, lm_required: bool = False, greedy: bool = False):
    """Beam-search flags, and with ``greedy`` the ``--greedy`` switch that turns
    the default LM beam search (for models that ship decoder settings) off."""
    group = parser.add_argument_group(
        "decoding (LM beam search when the model ships <name>.decoder.json, "
        "else greedy; any beam flag asks for beam search)"
    )
    if greedy:
        group.add_argument(
            "--greedy", action="store_true",
            help="greedy decoding (fastest; wins over beam flags)",
        )  # fmt: skip
    group.add_argument(
        "--lm", type=Path, required=lm_required, default=None,
        help="word n-gram LM (ARPA, .gz ok) for beam search",
    )  # fmt: skip
    group.add_argument(
        "--beam", dest="beam_size", type=beam_size_arg, default=None,
        help=f"beam size (default {DecodeConfig.beam_size})",
    )  # fmt: skip
    group.add_argument(
        "--lm-weight", type=finite_float, default=None,
        help=f"LM weight (default {DecodeConfig.lm_weight})",
    )  # fmt: skip
    group.add_argument(
        "--word-score", type=finite_float, default=None,
        help=f"score added per word (default {DecodeConfig.word_score})",
    )  # fmt: skip
    group.add_argument(
        "--beam-threshold", type=non_negative_float, default=None,
        help="score margin kept in the beam "
        f"(default {DecodeConfig.beam_threshold})",
    )  # fmt: skip
    group.add_argument(
        "--hotwords", default=None, type=hotwords_arg,
        help="words or phrases to favour: 'name:5,new york' or a file of "
        f"'phrase[:weight]' lines (default weight {HOTWORD_WEIGHT}; at most "
        f"{MAX_HOTWORDS} of {MAX_HOTWORD_CHARS} characters; a FIFO or device is "
        "refused); needs an LM",
    )  # fmt: skip
    group.add_argument(
        "--decoder-config", type=Path, default=None,
        help="JSON written by `asr tune-decoder`; flags given here win",
    )  # fmt: skip


def read_decoder_config(path: Path) -> dict:
    """Settings from a ``tune-decoder`` JSON file, without its notes; a relative
    ``lm`` is found beside the file when it is there.

    Raises:
        ValueError: unreadable or malformed JSON, or a setting of the wrong type or
            range; the message names the file.
    """
    try:
        settings = json.loads(read_text(path, "decoder config"))
    except InputFileError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path}: not a readable JSON decoder config ({error})"
        ) from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: expected a JSON object of decoder settings")
    for note in TUNING_NOTES:  # what tune-decoder records beside the settings
        settings.pop(note, None)
    lm = settings.pop("lm", None)
    if lm is not None and not (isinstance(lm, str) and lm):
        raise ValueError(f"{path}: lm must be the path of an ARPA file, not {lm!r:.40}")
    unknown = set(settings) - set(DecodeConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path}: unknown decoder settings {sorted(unknown)}")
    if isinstance(settings.get("hotwords"), list):  # JSON has no tuples
        settings["hotwords"] = tuple(tuple(h) if isinstance(h, list) else h
                                     for h in settings["hotwords"])  # fmt: skip
    try:
        DecodeConfig(**settings)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if lm:
        settings["lm"] = lm_path(lm, Path(path))
    return settings


def lm_path(lm: str, config: Path) -> str:
    """Where the ``lm`` named in the decoder config ``config`` is: a relative name
    beside the JSON when it is there (else from the working directory).

    A model's ``.decoder.json`` comes with downloaded models, so it may not point
    the loader at any file on the machine (``../../etc/passwd``): the LM must lie
    in the JSON's folder, unless its name says it is an LM (LM_SUFFIXES), as the
    big ones kept in a shared folder are.

    Raises:
        ValueError: an LM outside the folder whose name is not an LM's.
    """
    beside = config.parent / lm
    found = str(beside) if beside.is_file() and not Path(lm).is_absolute() else lm
    inside = Path(found).resolve().is_relative_to(config.parent.resolve())
    if not (inside or lm.lower().endswith(LM_SUFFIXES)):
        raise ValueError(
            f"{config}: lm {lm[:60]!r} lies outside {config.parent}; an LM kept "
            f"elsewhere must be named *{', *'.join(LM_SUFFIXES)}"
        )
    return found


def decoder_from_args(args, vocab: list[str], default_lm: Path | None = None):
    """A BeamSearchDecoder from the flags, or None for greedy decoding.

    Raises:
        ValueError, OSError: an unreadable decoder config, hotword list or LM.
    """
    fields = ("beam_size", "lm_weight", "word_score", "beam_threshold")
    settings = read_decoder_config(args.decoder_config) if args.decoder_config else {}
    for name in fields:
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    lm = args.lm or settings.pop("lm", None)
    settings.pop("lm", None)
    if args.hotwords:
        settings["hotwords"] = parse_hotwords(args.hotwords)
        lm = lm or default_lm
    if not settings and lm is None:
        return None
    if lm is not None and not os.path.exists(lm):
        raise ValueError(f"{lm}: no such language model file")
    if lm is not None:
        regular_file(lm, "language model")
    unknown = set(settings) - set(DecodeConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown decoder settings: {sorted(unknown)}")
    return BeamSearchDecoder(vocab, lm, DecodeConfig(**settings))


def decoder_config_path(checkpoint: Path) -> Path:
    """Where a checkpoint's tuned beam-search settings and LM name live:
    ``<name>.decoder.json`` beside ``<name>.pt``."""
    return checkpoint.with_name(checkpoint.stem + ".decoder.json")


class DecoderChoice:
    """Which decoder a model's ``decoder=`` means (see ``ASRModel``, which mixes
    this in and provides ``self.tokenizer``): one of DECODERS, resolved against the
    LM beam search tuned for the model (``decoder_config``), built once."""

    decoder_config: Path | None = None  # tuned beam settings shipped with it
    _default_decoder: BeamSearchDecoder | None = None

    def beam_decoder(
        self, hotwords: tuple[tuple[str, float], ...] = ()
    ) -> BeamSearchDecoder:
        """LM beam search as tuned for this model (its ``.decoder.json``: LM and
        weights), else over the shipped English LM with default weights.

        Args:
            hotwords: (word or phrase, bonus per word) pairs to favour.
        """
        settings = (
            read_decoder_config(self.decoder_config) if self.decoder_config else {}
        )
        lm = settings.pop("lm", None) or DEFAULT_LM
        if not Path(lm).is_file():
            source = self.decoder_config or "the package"
            raise ValueError(f"{lm}: no such language model file (named by {source}); "
                             "decode with --greedy / decoder='greedy'")  # fmt: skip
        config = DecodeConfig(**{**settings, "hotwords": tuple(hotwords)})
        return BeamSearchDecoder(self.tokenizer.vocab, lm, config)

    @property
    def default_decoder(self) -> BeamSearchDecoder | None:
        """The decoder ``decoder="auto"`` means: the shipped LM beam search, built
        on first use (the LM is read once per process), or None (greedy) for a
        model without ``<name>.decoder.json``."""
        if self.decoder_config is None:
            return None
        with _DEFAULT_DECODER_LOCK:
            if self._default_decoder is None:
                self._default_decoder = self.beam_decoder()
            return self._default_decoder

    def resolve_decoder(self, decoder: Decoder) -> BeamSearchDecoder | None:
        """A decoder object (None: greedy) for a ``decoder=`` argument.

        Raises:
            ValueError: a name that is not one of DECODERS.
        """
        if decoder is None or decoder == "greedy":
            return None
        if decoder == "auto":
            return self.default_decoder
        if decoder == "beam":
            return self.default_decoder or self.beam_decoder()
        if isinstance(decoder, str):
            raise ValueError(f"unknown decoder {decoder!r}; choose from {DECODERS}")
        return decoder


def _wants_beam(args: argparse.Namespace) -> bool:
    flags = ("beam_size", "lm_weight", "word_score", "beam_threshold", "hotwords")
    return any(getattr(args, name, None) is not None for name in flags)


def decoder_for_args(args: argparse.Namespace, model: DecoderChoice):
    """The decoder the command line asks for (None: greedy). ``--greedy`` wins;
    beam flags without ``--lm``/``--decoder-config`` use the model's shipped LM
    settings; no flag at all means the model's default (``decoder="auto"``).

    Raises:
        ValueError, OSError: an unreadable decoder config, hotword list or LM.
    """
    if getattr(args, "greedy", False):
        return None
    if not (args.lm or args.decoder_config or _wants_beam(args)):
        return model.default_decoder
    if not (args.lm or args.decoder_config):
        args.decoder_config = model.decoder_config  # the LM shipped with the model
    return decoder_from_args(args, model.tokenizer.vocab, DEFAULT_LM)


def describe_decoder(decoder) -> str:
    """One line for --verbose: greedy, or the LM and its settings."""
    if decoder is None:
        return "greedy"
    c = decoder.config
    return (f"LM beam search over {decoder.lm or 'no LM'} (beam {c.beam_size}, "
            f"LM weight {c.lm_weight}, word score {c.word_score}, "
            f"{len(c.hotwords)} hotwords)")  # fmt: skip
