"""Reading a model written by ``asr export``: an ONNX acoustic model run by ONNX
Runtime behind the ``ASRModel`` API, with features in numpy (asr/audio/mfcc.py).
Nothing on this path imports torch: a deployment needs onnxruntime, numpy,
soundfile, webrtcvad and flashlight-text (docs/export.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..audio.mfcc import FrontendConfig, NumpyFrontend
from ..core.cpu import resolve_threads
from ..core.files import CheckpointError, model_file
from ..core.limits import MAX_PARAMETERS, checked_config
from ..core.text import BLANK, BLANK_TOKEN, CharTokenizer
from ..decoding.settings import decoder_config_path
from .recognizer import ASRModel

META_KEY = "asr"  # ONNX metadata_props key holding vocab and settings (JSON)
FORMAT = "asr-onnx"  # META_KEY's "format"
MAX_VOCAB = 65_536  # labels an export may declare (LIMITS' vocab_size)


def is_exported(path: Path) -> bool:
    """Whether ``path`` names an ONNX file (by its extension)."""
    return Path(path).suffix.lower() == ".onnx"


def read_metadata(raw: str | None, path) -> tuple[list[str], FrontendConfig, dict]:
    """Vocabulary, frontend config and the rest of an export's metadata, every value
    checked (types, LIMITS) before anything is built from it.

    Raises:
        CheckpointError: one line naming ``path`` and what is wrong.
    """
    try:
        meta = json.loads(raw) if raw else None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"no {FORMAT} metadata (was it written by asr export?)")
        vocab = meta.get("vocab")
        if not (isinstance(vocab, list) and all(isinstance(t, str) for t in vocab)):
            raise ValueError("vocab is not a list of strings")
        if not 2 <= len(vocab) <= MAX_VOCAB or vocab[BLANK] != BLANK_TOKEN:
            raise ValueError(f"vocab must hold 2 to {MAX_VOCAB} labels, blank first")
        frontend = checked_config(FrontendConfig, meta.get("frontend_config"))
        if frontend.n_mfcc > frontend.n_mels or frontend.n_fft < frontend.hop_length:
            raise ValueError("inconsistent frontend config")
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: bad export metadata ({error})") from None
    return vocab, frontend, meta


class OnnxASRModel(ASRModel):
    """An exported ONNX encoder behind the ``ASRModel`` API: the same transcripts,
    segments, word timings and LM decoding, without torch."""

    def __init__(self, session, tokenizer: CharTokenizer, frontend: FrontendConfig,
                 frame_seconds: float):  # fmt: skip
        self.session, self.tokenizer = session, tokenizer
        self.frontend = NumpyFrontend(frontend)
        self._frame_seconds = frame_seconds
        self.device = "cpu"
        self.decoder_config = None  # load_model sets the sidecar when there is one
        self.min_confidence = 0.0  # as ASRModel
        self.threads = 1  # as ASRModel; load_onnx sets it

    @property
    def frame_seconds(self) -> float:
        return self._frame_seconds

    def to(self, device: str) -> OnnxASRModel:
        if str(device) != "cpu":
            raise ValueError("an ONNX model runs on the CPU here (--device cpu)")
        return self

    def posteriors(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(B, T', V) float32 CTC log posteriors and (B,) lengths, as numpy arrays."""
        feats, lens = self.frontend(waves)
        log_probs, out_lens = self.session.run(
            None, {"feats": feats, "feat_lens": lens}
        )
        return log_probs, out_lens


def load_onnx(path: str | Path, threads: int | None = None) -> OnnxASRModel:
    """Load a file written by ``asr export --format onnx``; its ``.decoder.json``
    beside it (written by the export) gives the LM beam search it decodes with.

    Raises:
        CheckpointError: missing or unreadable file, or bad metadata.
    """
    import onnxruntime as ort

    path = model_file(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = resolve_threads(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        session = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own exception types
        reason = str(error).strip().splitlines()[-1][:200]
        raise CheckpointError(f"{path}: not a readable ONNX model ({reason})") from None
    raw = session.get_modelmeta().custom_metadata_map.get(META_KEY)
    vocab, frontend, meta = read_metadata(raw, path)
    try:
        strides = meta.get("time_stride", 1)
        if isinstance(strides, bool) or not isinstance(strides, int):
            raise ValueError("time_stride is not a whole number")
        if not 1 <= strides <= 16**4:
            raise ValueError("time_stride out of range")
        params = meta.get("parameters", 0)
        if not isinstance(params, int) or params > MAX_PARAMETERS:
            raise ValueError("too many parameters")
    except ValueError as error:
        raise CheckpointError(f"{path}: bad export metadata ({error})") from None
    frame_s = frontend.hop_length * strides / frontend.sample_rate
    model = OnnxASRModel(session, CharTokenizer(vocab), frontend, frame_s)
    sidecar = decoder_config_path(path)
    model.decoder_config = sidecar if sidecar.is_file() else None
    model.threads = resolve_threads(threads)
    return model
