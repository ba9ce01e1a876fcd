"""Deployment forms of a model: TorchScript export of frontend + encoder, and int8
dynamic quantisation of the recurrent and linear layers.

    asr export --model exp/fsdd/best.pt --out model.ts                  # float
    asr export --model exp/fsdd/best.pt --out model-int8.ts --quantize int8

The exported file runs without this package's model code (``torch.jit.load``) and
carries the vocabulary in its ``asr.json`` extra file; ``load_exported`` wraps it in
the same ``transcribe`` / ``transcribe_segments`` API as ``load_model``.

TorchScript comes from ``torch.jit.trace``: ``torch.jit.script`` cannot compile the
encoder (its length helper takes modules and ints or tensors alike), and ONNX export
of packed bidirectional RNNs needs the separate onnxscript toolchain. The trace is
checked on other batch sizes and lengths than the example it was traced on.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..audio.features import Frontend
from ..audio.io import SAMPLE_RATE
from ..core.cpu import add_threads_argument
from ..data.manifest import read_manifest
from ..model.checkpoint import CheckpointError
from .evaluate import evaluate
from .exported import META_FILE, load_exported
from .recognizer import ASRModel
from .transcribe import load_model

QUANTIZABLE = {nn.LSTM, nn.GRU, nn.Linear}  # what torch's dynamic int8 kernels cover
EXAMPLE_S = (3.0, 1.7)  # seconds of the example batch the trace runs on


class Pipeline(nn.Module):
    """Frontend + encoder as one module: 16 kHz waves in, CTC log posteriors out.

    Written for tracing: ``Frontend.forward`` has no Python-side branching on
    tensor values, so it traces as it is.
    """

    def __init__(self, frontend: Frontend, encoder: nn.Module):
        super().__init__()
        self.frontend, self.encoder = frontend, encoder

    def forward(self, waves: torch.Tensor, wave_lens: torch.Tensor):
        """(B, N) waves, (B,) lengths -> (B, T', V) log-probs, (B,) lengths."""
        feats, feat_lens = self.frontend(waves, wave_lens)
        return self._encode(feats, feat_lens)

    def _encode(self, feats: torch.Tensor, feat_lens: torch.Tensor):
        """``Encoder.forward`` with the RNN's initial state passed in: the int8 LSTM
        would otherwise build it with the traced batch size frozen in."""
        encoder = self.encoder
        x, out_lens = encoder.subsampling(feats, feat_lens)
        out_lens = out_lens.clamp(min=1, max=x.shape[1])
        packed = nn.utils.rnn.pack_padded_sequence(
            x, out_lens.cpu(), batch_first=True, enforce_sorted=False
        )
        rnn = encoder.rnn
        state = x.new_zeros((rnn.num_layers * 2, x.shape[0], rnn.hidden_size))
        hx = (state, state) if encoder.config.rnn_type == "lstm" else state
        packed, _ = rnn(packed, hx)
        x, _ = nn.utils.rnn.pad_packed_sequence(
            packed, batch_first=True, total_length=x.shape[1]
        )  # (B, T', 2H)
        return encoder.head(x).log_softmax(dim=-1), out_lens


def quantize_int8(model: ASRModel) -> ASRModel:
    """A copy of ``model`` whose LSTM/GRU and linear layers run int8 weights
    (``torch.ao.quantization.quantize_dynamic``; activations stay float). CPU only."""
    encoder = torch.ao.quantization.quantize_dynamic(
        copy.deepcopy(model.encoder).cpu(), QUANTIZABLE, dtype=torch.qint8
    )
    quantized = ASRModel(copy.deepcopy(model.frontend).cpu(), encoder, model.tokenizer)
    quantized.decoder_config = model.decoder_config  # same LM beam search by default
    return quantized


def export_torchscript(
    model: ASRModel, path: str | Path, quantize: str | None = None
) -> None:
    """Trace frontend + encoder (optionally int8-quantised first) and save it.

    Raises:
        ValueError: the traced module disagrees with the eager one on a batch of
            other shapes than the one it was traced on.
    """
    if quantize not in (None, "int8"):
        raise ValueError(f"unknown quantisation {quantize!r}; only 'int8'")
    model = quantize_int8(model) if quantize else model
    pipeline = Pipeline(model.frontend.cpu(), model.encoder.cpu()).eval()
    waves, lens = _example_batch(EXAMPLE_S, seed=0)
    with torch.inference_mode():
        traced = torch.jit.trace(pipeline, (waves, lens), check_trace=False)
        _check_same(pipeline, traced)
    meta = {"vocab": model.tokenizer.vocab, "sample_rate": SAMPLE_RATE,
            "n_fft": model.frontend.config.n_fft, "quantize": quantize}  # fmt: skip
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(traced, str(path), _extra_files={META_FILE: json.dumps(meta)})


def compare_models(
    reference: ASRModel, candidate: ASRModel, entries: list[dict]
) -> dict:
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


def _example_batch(seconds: tuple[float, ...], seed: int):
    rng = np.random.default_rng(seed)
    lens = torch.tensor([int(s * SAMPLE_RATE) for s in seconds])
    waves = torch.zeros(len(seconds), int(lens.max()))
    for i, n in enumerate(lens.tolist()):
        waves[i, :n] = torch.from_numpy(rng.standard_normal(n).astype(np.float32) * 0.1)
    return waves, lens


def _check_same(eager: nn.Module, traced: torch.jit.ScriptModule) -> None:
    # other batch size and lengths
    waves, lens = _example_batch((0.9, 5.2, 2.4), seed=1)
    (ref, ref_lens), (got, got_lens) = eager(waves, lens), traced(waves, lens)
    if got.shape != ref.shape or not torch.equal(got_lens, ref_lens):
        raise ValueError("traced model gives other shapes than the eager one")
    if not torch.allclose(got, ref, atol=1e-4):
        raise ValueError("traced model gives other numbers than the eager one")


def build_parser(
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="asr export", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.description = "Export frontend + encoder as TorchScript, optionally int8."
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="checkpoint (default: $ASR_MODEL, else the shipped model)",
    )
    parser.add_argument("-o", "--output", "--out", dest="out", type=Path, required=True,
                        help="TorchScript file to write")  # fmt: skip
    parser.add_argument(
        "--format", default="torchscript", choices=["torchscript"], help="export format"
    )
    parser.add_argument(
        "--quantize",
        default=None,
        choices=["int8"],
        help="dynamic int8 quantisation of the LSTM/GRU and linear layers",
    )
    parser.add_argument(
        "--check-manifest",
        type=Path,
        default=None,
        help="JSONL manifest to compare the export with the float model on",
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
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    try:
        model = load_model(args.model, threads=args.threads)
        entries = read_manifest(args.check_manifest) if args.check_manifest else None
        if entries == []:
            raise ValueError(f"{args.check_manifest}: no utterances to check")
        export_torchscript(model, tmp if entries else args.out, args.quantize)
    except (CheckpointError, ValueError, OSError) as error:
        tmp.unlink(missing_ok=True)
        print(f"error: {error}", file=sys.stderr)
        return 2
    if entries is None:
        print(f"wrote {args.out}")
        return 0
    try:
        return _check_export(model, tmp, args, entries)
    finally:
        tmp.unlink(missing_ok=True)


def _check_export(
    model, tmp: Path, args: argparse.Namespace, entries: list[dict]
) -> int:
    scores = compare_models(model, load_exported(tmp), entries)
    delta = 100 * scores["wer_delta"]
    print(
        f"float WER {100 * scores['reference_wer']:.2f} %, export WER "
        f"{100 * scores['candidate_wer']:.2f} % ({delta:+.2f} points), identical "
        f"transcripts {100 * scores['identical']:.1f} % of {len(entries)} utterances"
    )
    if delta > args.max_wer_delta:
        print(f"error: WER worse by more than {args.max_wer_delta} points; "
              f"{args.out} not written", file=sys.stderr)  # fmt: skip
        return 1
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0
