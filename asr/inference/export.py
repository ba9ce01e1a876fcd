"""Deployment form of a model: the acoustic model as ONNX (float, or with int8
recurrent weights, a quarter of the size) for a runtime without torch.

    asr export --model data/models/default.pt --out model.onnx
    asr export --model data/models/default.pt --out model-int8.onnx --quantize int8

The ONNX file holds the encoder (features in, CTC log posteriors out; dynamic batch
and time) with the vocabulary and frontend settings in its metadata; the model's
``.decoder.json`` is written beside it, so it decodes with the same LM beam search.
``load_model("model.onnx")`` runs it on ONNX Runtime with numpy features
(asr/inference/exported.py). The export is checked against torch on other batch
sizes and lengths before it is written (``check_onnx``).

TorchScript export and torch's int8 (``torch.ao.quantization``) were removed: both
are deprecated in PyTorch, and ONNX runs without torch, which they never did.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..audio.io import SAMPLE_RATE, load_audio
from ..core.cpu import add_threads_argument
from ..data.manifest import read_manifest
from ..decoding.settings import decoder_config_path, read_decoder_config
from ..model.checkpoint import CheckpointError
from ..model.encoder import reverse_within
from .evaluate import evaluate
from .exported import FORMAT, META_KEY, load_onnx
from .quantize import quantize_onnx
from .recognizer import ASRModel
from .transcribe import load_model

OPSET = 17  # ONNX opset of the export (ONNX Runtime 1.14 and later run it)
ATOL = 1e-3  # |log posterior| difference allowed between ONNX (float) and torch
EXAMPLE_S = (3.0, 1.7)  # seconds of the example batch the export traces
CHECK_S = (0.9, 5.2, 2.4)  # other batch size and lengths it is checked on
CALIBRATION_UTTERANCES = 120  # drawn from --calibration for int8 rounding (seeded)


class OnnxEncoder(nn.Module):
    """The encoder rewritten for export: each direction of each recurrent layer is
    a one-direction RNN over the padded batch (the backward one over each row
    reversed within its length), which gives what the packed bidirectional RNN
    gives without ``pack_padded_sequence``, which ONNX cannot express."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.subsampling, self.head = encoder.subsampling, encoder.head
        rnn = encoder.rnn
        extra = {"nonlinearity": rnn.nonlinearity} if rnn.mode.startswith("RNN") else {}
        self.layers = nn.ModuleList()
        for layer in range(rnn.num_layers):
            directions = nn.ModuleList()
            for suffix in (f"_l{layer}", f"_l{layer}_reverse"):
                size = rnn.input_size if layer == 0 else 2 * rnn.hidden_size
                one = type(rnn)(size, rnn.hidden_size, batch_first=True, **extra)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(one, f"{name}_l0").data.copy_(getattr(rnn, name + suffix))
                directions.append(one)
            self.layers.append(directions)

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor):
        """(B, T, F) features, (B,) lengths -> (B, T', V) log-probs, (B,) lengths."""
        x, out_lens = self.subsampling(feats, feat_lens)
        out_lens = out_lens.clamp(min=1, max=x.shape[1])
        steps = torch.arange(x.shape[1], device=x.device)[None, :]
        valid = (steps < out_lens[:, None])[:, :, None].to(x.dtype)  # (B, T', 1)
        for forward, backward in self.layers:
            ahead = forward(x)[0]
            behind = reverse_within(backward(reverse_within(x, out_lens))[0], out_lens)
            x = torch.cat([ahead, behind], dim=-1) * valid  # (B, T', 2H)
        return self.head(x).log_softmax(dim=-1), out_lens


def _ignore_export_notes() -> None:
    """Silence what torch says on every export of this model, and nothing else
    (a new warning still shows): ``check_onnx`` compares the export with torch."""
    # the tracer's notes on the shapes it records (the RNN's length checks)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    # variable lengths with an LSTM: check_onnx compares a batch of other lengths
    warnings.filterwarnings("ignore", "Exporting a model to ONNX with a batch_size")
    # dynamo=False: the TorchScript exporter is the one this module is written and
    # checked for; until it moves to torch.export, its deprecation notes say nothing new
    warnings.filterwarnings(
        "ignore", "You are using the legacy TorchScript", DeprecationWarning
    )
    warnings.filterwarnings(
        "ignore", "The feature will be removed", DeprecationWarning, "torch"
    )


def export_onnx(model: ASRModel, path: str | Path, quantize: str | None = None,
                calibration: list[np.ndarray] | None = None) -> None:  # fmt: skip
    """Write the acoustic model as ONNX (int8 weights with ``quantize="int8"``) and
    its decoder settings beside it.

    Args:
        calibration: 16 kHz waveforms (training speech) that int8 rounding is fitted
            on (GPTQ, ``asr.inference.quantize``); without them, round to nearest.

    Raises:
        ValueError: an unknown quantisation, or an export that disagrees with torch.
    """
    if quantize not in (None, "int8"):
        raise ValueError(f"unknown quantisation {quantize!r}; only 'int8'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoder = OnnxEncoder(copy.deepcopy(model.encoder).cpu()).eval()
    feats, lens = _example_features(model, EXAMPLE_S, seed=0)
    float_path = path.with_name(f".{path.name}.float") if quantize else path
    with warnings.catch_warnings():  # only the notes known to be harmless here
        _ignore_export_notes()
        torch.onnx.export(
            encoder, (feats, lens), str(float_path), dynamo=False,
            opset_version=OPSET, input_names=["feats", "feat_lens"],
            output_names=["log_probs", "out_lens"],
            dynamic_axes={"feats": {0: "batch", 1: "time"}, "feat_lens": {0: "batch"},
                          "log_probs": {0: "batch", 1: "frames"},
                          "out_lens": {0: "batch"}},
        )  # fmt: skip
    rounding = ("gptq" if calibration else "nearest") if quantize else None
    _write_metadata(model, float_path, quantize, rounding)
    if quantize:
        features = [_features(model, w) for w in calibration or ()]
        quantize_onnx(float_path, path, features)
        float_path.unlink()
    _write_decoder_config(model, path)
    check_onnx(model, path, atol=None if quantize else ATOL)


def _features(model: ASRModel, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(feats, feat_lens) of one waveform, as the export takes them."""
    with torch.inference_mode():
        feats, lens = model.frontend.cpu()(
            torch.from_numpy(wave)[None], torch.tensor([len(wave)])
        )
    return feats.numpy(), lens.numpy()


def _write_metadata(model: ASRModel, path: Path, quantize: str | None,
                    rounding: str | None = None) -> None:  # fmt: skip
    import onnx

    strides = int(np.prod(model.encoder.config.time_strides))
    meta = {
        "format": FORMAT, "format_version": 1, "vocab": model.tokenizer.vocab,
        "frontend_config": asdict(model.frontend.config),
        "model_config": asdict(model.encoder.config), "time_stride": strides,
        "parameters": model.encoder.num_parameters(), "quantize": quantize,
        "rounding": rounding,
    }  # fmt: skip
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {META_KEY: json.dumps(meta)})
    onnx.save(proto, str(path))


def _write_decoder_config(model: ASRModel, path: Path) -> None:
    """The model's ``.decoder.json`` beside the export, its LM path relative to it."""
    if model.decoder_config is None:
        return
    settings = read_decoder_config(model.decoder_config)
    raw = json.loads(Path(model.decoder_config).read_text(encoding="utf-8"))
    if settings.get("lm"):
        lm, beside = Path(settings["lm"]).resolve(), path.parent.resolve()
        settings["lm"] = str(
            lm.relative_to(beside) if lm.is_relative_to(beside) else lm
        )
    notes = {k: v for k, v in raw.items() if k not in settings and k != "lm"}
    text = json.dumps({**settings, **notes}, indent=1)
    decoder_config_path(path).write_text(text + "\n", encoding="utf-8")


def check_onnx(model: ASRModel, path: Path, atol: float | None = ATOL) -> float:
    """Compare the export's posteriors with torch's on a batch of other shapes than
    it was traced on: lengths must agree, and with ``atol`` the log posteriors too.

    Returns:
        the largest |log posterior| difference over valid frames.

    Raises:
        ValueError: lengths differ, or the difference exceeds ``atol``.
    """
    feats, lens = _example_features(model, CHECK_S, seed=1)
    with torch.inference_mode():
        ref, ref_lens = model.encoder.cpu()(feats, lens)
    got, got_lens = load_onnx(path).session.run(
        None, {"feats": feats.numpy(), "feat_lens": lens.numpy()}
    )
    if got.shape != tuple(ref.shape) or got_lens.tolist() != ref_lens.tolist():
        raise ValueError("the ONNX model gives other shapes than the torch one")
    worst = max(float(np.abs(got[b, :n] - ref[b, :n].numpy()).max())
                for b, n in enumerate(ref_lens.tolist()))  # fmt: skip
    if atol is not None and worst > atol:
        raise ValueError(f"the ONNX model's log posteriors differ by {worst:.2g}")
    return worst


def _example_features(model: ASRModel, seconds: tuple[float, ...], seed: int):
    """Features of noise waveforms of ``seconds`` through the model's frontend."""
    rng = np.random.default_rng(seed)
    lens = torch.tensor([int(s * SAMPLE_RATE) for s in seconds])
    waves = torch.zeros(len(seconds), int(lens.max()))
    for i, n in enumerate(lens.tolist()):
        waves[i, :n] = torch.from_numpy(rng.standard_normal(n).astype(np.float32) * 0.1)
    return model.frontend.cpu()(waves, lens)


def compare_models(reference, candidate, entries: list[dict]) -> dict:
    """Score two models on the same manifest entries, greedily (this compares the
    acoustic models, not decoders).

    Returns:
        {"reference_wer", "candidate_wer", "wer_delta" (candidate - reference, as a
        fraction), "identical" (share of utterances with the same transcript)}
    """
    ref = evaluate(reference, entries, progress=False, decoder="greedy")
    got = evaluate(candidate, entries, progress=False, decoder="greedy")
    pairs = zip(ref["results"], got["results"], strict=True)
    same = sum(a["hyp"] == b["hyp"] for a, b in pairs)
    return {
        "reference_wer": ref["wer"],
        "candidate_wer": got["wer"],
        "wer_delta": got["wer"] - ref["wer"],
        "identical": same / max(len(ref["results"]), 1),
    }


def build_parser(
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr export", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = "Export the acoustic model as ONNX, optionally int8."
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="checkpoint (default: $ASR_MODEL, else the shipped model)",
    )
    parser.add_argument(
        "-o",
        "--output",
        "--out",
        dest="out",
        type=Path,
        required=True,
        help="ONNX file to write (.onnx)",
    )
    parser.add_argument(
        "--format", default="onnx", choices=["onnx"], help="export format"
    )
    parser.add_argument(
        "--quantize",
        default=None,
        choices=["int8"],
        help="store the recurrent weights as int8, one scale per row (a quarter "
        "of the size)",
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        default=None,
        help="JSONL manifest of training speech that int8 rounding is fitted on "
        f"(GPTQ over {CALIBRATION_UTTERANCES} of its utterances, seeded; never a "
        "test set); without it int8 rounds each weight to the nearest code, which "
        "changes more words",
    )
    parser.add_argument(
        "--check-manifest",
        type=Path,
        default=None,
        help="JSONL manifest to compare the export with the torch "
        "model on (greedy WER)",
    )
    parser.add_argument(
        "--max-wer-delta",
        type=float,
        default=0.5,
        help="fail when the export's WER is this many points worse",
    )
    add_threads_argument(parser)
    return parser  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Export; with --check-manifest the file is written beside ``--out`` first and
    only renamed into place once the check passes, so a failed check leaves
    nothing behind."""
    if args.out.suffix.lower() != ".onnx":
        print(f"error: {args.out}: the output must end in .onnx", file=sys.stderr)
        return 2
    tmp = args.out.with_name(f".{args.out.stem}.tmp.onnx")
    try:
        model = load_model(args.model, threads=args.threads)
        entries = read_manifest(args.check_manifest) if args.check_manifest else None
        if entries == []:
            raise ValueError(f"{args.check_manifest}: no utterances to check")
        if args.calibration and not args.quantize:
            raise ValueError("--calibration fits int8 rounding: add --quantize int8")
        waves = calibration_audio(args.calibration) if args.calibration else None
        export_onnx(model, tmp if entries else args.out, args.quantize, waves)
    except (CheckpointError, ValueError, OSError) as error:
        _remove(tmp)
        print(f"error: {error}", file=sys.stderr)
        return 2
    if entries is None:
        print(f"wrote {args.out}")
        return 0
    try:
        return _check_export(model, tmp, args, entries)
    finally:
        _remove(tmp)


def calibration_audio(manifest: Path, count: int = CALIBRATION_UTTERANCES):
    """``count`` waveforms of ``manifest`` drawn at random (seed 0), in its order.

    Raises:
        ValueError: an empty manifest; AudioError (a ValueError): unreadable audio.
    """
    entries = read_manifest(manifest)
    if not entries:
        raise ValueError(f"{manifest}: no utterances to calibrate on")
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(entries), min(count, len(entries)), replace=False))
    return [load_audio(entries[i]["audio"]) for i in chosen]


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    decoder_config_path(path).unlink(missing_ok=True)


def _check_export(model, tmp: Path, args: argparse.Namespace, entries) -> int:
    scores = compare_models(model, load_onnx(tmp, threads=args.threads), entries)
    delta = 100 * scores["wer_delta"]
    print(
        f"torch WER {100 * scores['reference_wer']:.2f} %, export WER "
        f"{100 * scores['candidate_wer']:.2f} % ({delta:+.2f} points), identical "
        f"transcripts {100 * scores['identical']:.1f} % of {len(entries)} utterances"
    )
    if delta > args.max_wer_delta:
        print(f"error: WER worse by more than {args.max_wer_delta} points; "
              f"{args.out} not written", file=sys.stderr)  # fmt: skip
        return 1
    tmp.replace(args.out)
    sidecar = decoder_config_path(tmp)
    if sidecar.is_file():
        sidecar.replace(decoder_config_path(args.out))
    print(f"wrote {args.out}")
    return 0
