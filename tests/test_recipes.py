"""Every recipes/<dataset>/prepare.py on a tiny copy of its dataset, built here in the
dataset's real on-disk layout from the recordings in tests/data, with one broken
audio file each that must be reported and skipped without stopping the run."""

import hashlib
import inspect
import io
import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import KATHLEEN, load_recipe

from asr.data.manifest import read_manifest
from asr.data.prepare import download, extract, hash_split, readable_audio

BROKEN = b"RIFF\x00\x00\x00\x00WAVEthis is not audio"
SPEECH, SPEECH_RATE = sf.read(str(KATHLEEN[0]), dtype="int16")  # 16 kHz, 3.3 s


def write_audio(path, seconds=1.0, **kwargs):
    """A real recording (the first ``seconds`` of arctic_a0001) in the format that
    ``path``'s suffix or ``kwargs`` ask for."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), SPEECH[: int(seconds * SPEECH_RATE)], SPEECH_RATE, **kwargs)
    return path


def broken(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(BROKEN)
    return path


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_run(out, capsys, broken_name, expected):
    """The counts are as expected, the broken file was reported, every manifest
    entry is readable, and a second run writes identical manifests."""
    assert broken_name in capsys.readouterr().err
    for split, count in expected.items():
        entries = read_manifest(out / f"{split}.jsonl")
        assert len(entries) == count, split
        for entry in entries:
            assert sf.info(entry["audio"]).frames > 0
            assert entry["duration"] > 0.1 and entry["text"]


def rerun_is_identical(prepare, out, splits):
    before = {s: (out / f"{s}.jsonl").read_text() for s in splits}
    prepare()
    assert {s: (out / f"{s}.jsonl").read_text() for s in splits} == before


# --- Kathleen ---------------------------------------------------------------------


def kathleen_github(root, prompts=40):
    """dataset-voice-cathy layout: data/arctic_<id>_<timestamp>.wav + .txt; prompts
    a0000-a0039, the first ten with two takes, plus a broken take."""
    data = root / "dataset-voice-cathy" / "data"
    for n in range(prompts):
        for take in range(2 if n < 10 else 1):
            stem = f"arctic_a{n:04d}_15927484{n:02d}{take}"
            write_audio(data / f"{stem}.wav", 0.5)
            (data / f"{stem}.txt").write_text(f"Prompt number {n}.\n")
    broken(data / "arctic_b0001_1592749999.wav")
    (data / "arctic_b0001_1592749999.txt").write_text("A broken take.\n")
    return root / "dataset-voice-cathy"


def test_kathleen_splits_by_prompt_and_skips_broken(tmp_path, capsys):
    recipe = load_recipe("kathleen")
    source, out = kathleen_github(tmp_path), tmp_path / "out"
    counts = recipe.prepare(source, out)
    check_run(out, capsys, "arctic_b0001_1592749999.wav", counts)
    assert sum(counts.values()) == 50  # 40 prompts, 10 with a second take
    prompts = {s: {e["prompt_id"] for e in lines(out / f"{s}.jsonl")} for s in counts}
    assert not prompts["train"] & (prompts["dev"] | prompts["test"])
    assert not prompts["dev"] & prompts["test"]
    assert prompts["train"] and (prompts["dev"] or prompts["test"])
    for prompt in {f"arctic_a{n:04d}" for n in range(40)}:  # the split is the hash's
        assert prompt in prompts[recipe.split_of(prompt)]
    heldout = (out / "heldout_prompts.txt").read_text().splitlines()
    assert len(heldout) == len(prompts["dev"] | prompts["test"])
    rerun_is_identical(lambda: recipe.prepare(source, out), out, counts)


def test_kathleen_split_worked_example():
    recipe = load_recipe("kathleen")
    bucket = int(hashlib.sha1(b"arctic_a0001").hexdigest(), 16) % 100
    expected = "test" if bucket < 5 else "dev" if bucket < 10 else "train"
    assert recipe.split_of("arctic_a0001") == expected


def test_kathleen_repack_layout(tmp_path, capsys):
    source = tmp_path / "kathleen"
    write_audio(source / "audio" / "arctic_a0001_1.flac")
    broken(source / "audio" / "arctic_a0002_2.flac")
    rows = [
        {
            "audio": "audio/arctic_a0001_1.flac",
            "text": KATHLEEN[1],
            "duration": 1.0,
            "speaker": "kathleen",
            "prompt_id": "arctic_a0001",
        },
        {
            "audio": "audio/arctic_a0002_2.flac",
            "text": "x",
            "duration": 1.0,
            "speaker": "kathleen",
            "prompt_id": "arctic_a0002",
        },
    ]
    (source / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = load_recipe("kathleen").prepare(source, tmp_path / "out")
    assert sum(counts.values()) == 1
    assert "arctic_a0002_2.flac" in capsys.readouterr().err


def test_kathleen_downloads_through_a_url(tmp_path):
    source = kathleen_github(tmp_path / "src", prompts=3)
    archive = tmp_path / "cathy.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in source.rglob("*"):
            z.write(path, path.relative_to(source.parent))
    out = tmp_path / "out"
    counts = load_recipe("kathleen").prepare(None, out, url=archive.as_uri())
    assert sum(counts.values()) == 6  # 3 prompts, two takes each
    assert (out / "download" / "cathy.zip").exists()


# --- VCTK and VCTK p239 -----------------------------------------------------------


def vctk_092(root):
    """VCTK-Corpus-0.92: wav48_silence_trimmed/<spk>/<utt>_mic1.flac (+ mic2) and
    txt/<spk>/<utt>.txt, for p239 and p225; p225_003 is broken, p225_004 has no text."""
    corpus = root / "VCTK-Corpus-0.92"
    for speaker in ("p225", "p239"):
        for n in (1, 2, 3):
            utt = f"{speaker}_{n:03d}"
            for mic in ("mic1", "mic2"):
                write_audio(
                    corpus / "wav48_silence_trimmed" / speaker / f"{utt}_{mic}.flac"
                )
            (corpus / "txt" / speaker).mkdir(parents=True, exist_ok=True)
            (corpus / "txt" / speaker / f"{utt}.txt").write_text(
                "Please call Stella.\n"
            )
    broken(corpus / "wav48_silence_trimmed" / "p225" / "p225_003_mic1.flac")
    write_audio(corpus / "wav48_silence_trimmed" / "p225" / "p225_004_mic1.flac")
    return corpus


def test_vctk(tmp_path, capsys):
    recipe = load_recipe("vctk")
    source, out = vctk_092(tmp_path), tmp_path / "out"
    counts = recipe.prepare(source, out)
    check_run(out, capsys, "p225_003_mic1.flac", counts)
    assert sum(counts.values()) == 5  # 6 transcribed, 1 broken; p225_004 has no text
    assert {e["speaker"] for e in lines(out / "test.jsonl")} >= {"p239"}
    assert all("_mic1" in e["audio"] for s in counts for e in lines(out / f"{s}.jsonl"))
    rerun_is_identical(lambda: recipe.prepare(source, out), out, counts)


def test_vctk_p239_is_test_only(tmp_path, capsys):
    source, out = vctk_092(tmp_path), tmp_path / "out"
    broken(source / "wav48_silence_trimmed" / "p239" / "p239_002_mic1.flac")
    counts = load_recipe("vctk_p239").prepare(source, out)
    assert counts == {"test": 2}
    assert "p239_002_mic1.flac" in capsys.readouterr().err
    assert {e["speaker"] for e in lines(out / "test.jsonl")} == {"p239"}
    assert not (out / "train.jsonl").exists()


# --- LibriSpeech ------------------------------------------------------------------


def librispeech(root, subsets):
    """LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac + .trans.txt;
    in the first subset one flac is broken and one has no transcript line."""
    for i, subset in enumerate(subsets):
        chapter = root / "LibriSpeech" / subset / str(100 + i) / "2000"
        lines_ = []
        for utt in range(2):
            uid = f"{100 + i}-2000-{utt:04d}"
            write_audio(chapter / f"{uid}.flac")
            lines_.append(f"{uid} AUTHOR OF THE DANGER TRAIL {subset.upper()}")
        if i == 0:
            broken(chapter / f"{100 + i}-2000-0002.flac")
            lines_.append(f"{100 + i}-2000-0002 A BROKEN FILE")
            write_audio(chapter / f"{100 + i}-2000-0003.flac")  # no transcript
        (chapter / f"{100 + i}-2000.trans.txt").write_text("\n".join(lines_) + "\n")
    return root


SUBSETS = ("train-clean-100", "dev-clean", "dev-other", "test-clean", "test-other")


def test_librispeech(tmp_path, capsys):
    recipe = load_recipe("librispeech")
    source, out = librispeech(tmp_path / "src", SUBSETS), tmp_path / "out"
    counts = recipe.prepare(source, out, train_subsets=["train-clean-100"])
    check_run(
        out, capsys, "100-2000-0002.flac", {"train": 2, "dev": 4, "test-clean": 2}
    )
    assert counts == {"train": 2, "dev": 4}
    entry = lines(out / "test-other.jsonl")[0]
    assert entry["text"] == "AUTHOR OF THE DANGER TRAIL TEST-OTHER"
    assert entry["utterance"] == "104-2000-0000" and entry["speaker"] == "104"
    rerun_is_identical(
        lambda: recipe.prepare(source, out, train_subsets=["train-clean-100"]),
        out,
        ["train", "dev", "test-clean"],
    )


def test_librispeech_downloads_verified_archives(tmp_path, monkeypatch):
    """Each subset comes from <base-url>/<subset>.tar.gz and is checked against its
    md5 and sha256 (here: the fixture archives' own)."""
    recipe = load_recipe("librispeech")
    source = librispeech(tmp_path / "src", SUBSETS)
    served = tmp_path / "openslr"
    served.mkdir()
    checksums = {}
    for subset in SUBSETS:
        archive = served / f"{subset}.tar.gz"
        with tarfile.open(archive, "w:gz") as t:
            t.add(source / "LibriSpeech" / subset, f"LibriSpeech/{subset}")
        data = archive.read_bytes()
        checksums[subset] = (
            hashlib.md5(data).hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )
    monkeypatch.setattr(recipe, "CHECKSUMS", checksums)
    out = tmp_path / "out"
    counts = recipe.prepare(None, out, ["train-clean-100"], base_url=served.as_uri())
    assert counts == {"train": 2, "dev": 4}
    assert len(lines(out / "test-clean.jsonl")) == 2
    # a corrupted archive is refused, and removed so that the next try starts over
    checksums["train-clean-100"] = ("0" * 32, checksums["train-clean-100"][1])
    with pytest.raises(ValueError, match="checksum mismatch"):
        recipe.prepare(
            None, tmp_path / "out2", ["train-clean-100"], base_url=served.as_uri()
        )
    assert not list((tmp_path / "out2" / "download").glob("*.tar.gz*"))


# --- LJ Speech --------------------------------------------------------------------


def test_ljspeech(tmp_path, capsys):
    recipe = load_recipe("ljspeech")
    root = tmp_path / "LJSpeech-1.1"
    rows = []
    for n in range(1, 21):
        clip = f"LJ001-{n:04d}"
        write_audio(root / "wavs" / f"{clip}.wav", 0.5)
        rows.append(f'{clip}|In 1845 "he" said|In eighteen forty-five "he" said')
    broken(root / "wavs" / "LJ002-0001.wav")
    rows.append("LJ002-0001|Broken|Broken")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    counts = recipe.prepare(root, out)
    check_run(out, capsys, "LJ002-0001.wav", counts)
    assert sum(counts.values()) == 20
    texts = {e["text"] for s in counts for e in lines(out / f"{s}.jsonl")}
    assert texts == {
        'In eighteen forty-five "he" said'
    }  # normalised column, quotes kept
    rerun_is_identical(lambda: recipe.prepare(root, out), out, counts)


# --- Common Voice -----------------------------------------------------------------


def test_commonvoice_mp3(tmp_path, capsys):
    recipe = load_recipe("commonvoice")
    lang = tmp_path / "cv-corpus-17.0-2024-03-15" / "en"
    header = (
        "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes"
    )
    for split, names in {
        "train": ["a", "b", "bad"],
        "dev": ["c"],
        "test": ["d"],
    }.items():
        rows = [header]
        for name in names:
            clip = f"common_voice_en_{name}.mp3"
            if name == "bad":
                broken(lang / "clips" / clip)
            else:
                write_audio(lang / "clips" / clip, format="MP3")
            rows.append(f"c{name}\t{clip}\ts{name}\tIt's \"{name}\", isn't it?\t\t2\t0")
        (lang / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    counts = recipe.prepare(tmp_path, out)  # the folder above the release also works
    check_run(out, capsys, "common_voice_en_bad.mp3", {"train": 2, "dev": 1, "test": 1})
    assert lines(out / "dev.jsonl")[0]["text"] == "It's \"c\", isn't it?"
    assert counts == {"train": 2, "dev": 1, "test": 1}


def test_commonvoice_needs_a_source(tmp_path):
    with pytest.raises(SystemExit, match="commonvoice.mozilla.org"):
        load_recipe("commonvoice").prepare(None, tmp_path)


# --- TED-LIUM 3 -------------------------------------------------------------------


def test_tedlium_cuts_segments(tmp_path, capsys):
    recipe = load_recipe("tedlium")
    legacy = tmp_path / "TEDLIUM_release-3" / "legacy"
    for split in ("train", "dev", "test"):
        talk = f"Talk{split.title()}_2010"
        write_audio(legacy / split / "sph" / f"{talk}.sph", 3.0, format="NIST",
                    subtype="PCM_16")  # fmt: skip
        (legacy / split / "stm").mkdir(parents=True)
        (legacy / split / "stm" / f"{talk}.stm").write_text(
            f"{talk} 1 {talk} 0.00 1.20 <o,f0,female> author of the <unk> it 's\n"
            f"{talk} 1 inter_segment_gap 1.20 1.50 <o,,unknown> "
            "ignore_time_segment_in_scoring\n"
            f"{talk} 1 {talk} 1.50 3.00 <o,f0,female> danger trail\n"
        )
    broken(legacy / "train" / "sph" / "Broken_2011.sph")
    (legacy / "train" / "stm" / "Broken_2011.stm").write_text(
        "Broken_2011 1 Broken_2011 0.0 1.0 <o,f0,male> hello\n"
    )
    out = tmp_path / "out"
    counts = recipe.prepare(tmp_path, out)
    check_run(out, capsys, "Broken_2011.sph", {"train": 2, "dev": 2, "test": 2})
    first, second = lines(out / "train.jsonl")
    assert first["text"] == "author of the it's" and second["text"] == "danger trail"
    assert first["duration"] == 1.2 and second["duration"] == 1.5
    cut, _ = sf.read(read_manifest(out / "train.jsonl")[1]["audio"], dtype="int16")
    assert np.array_equal(cut, SPEECH[24000:48000])  # exactly the STM's 1.5-3.0 s
    assert counts == {"train": 2, "dev": 2, "test": 2}
    rerun_is_identical(lambda: recipe.prepare(tmp_path, out), out, counts)


# --- AN4 --------------------------------------------------------------------------


def an4(root, kind):
    """an4/etc/an4_{train,test}.{fileids,transcription} and wav/<fileid>.sph (SPHERE
    tarball) or .raw (raw tarball: headerless big-endian 16-bit)."""
    base = root / "an4"
    parts = {"train": ("an4_clstk", ["fash", "fbbh", "fcaw", "mblw"]),
             "test": ("an4test_clstk", ["fcaw"])}  # fmt: skip
    for part, (folder, speakers) in parts.items():
        fileids, transcripts = [], []
        for speaker in speakers:
            fileid = f"{folder}/{speaker}/an25{len(fileids)}-{speaker}-b"
            path = base / "wav" / f"{fileid}.{kind}"
            if kind == "raw":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(SPEECH[:16000].astype(">i2").tobytes())
            else:
                write_audio(path, format="NIST", subtype="PCM_16")
            fileids.append(fileid)
            transcripts.append(
                f"<s> RUBOUT G M E F THREE NINE </s> ({Path(fileid).name})"
            )
        (base / "etc").mkdir(parents=True, exist_ok=True)
        (base / "etc" / f"an4_{part}.fileids").write_text("\n".join(fileids) + "\n")
        (base / "etc" / f"an4_{part}.transcription").write_text(
            "\n".join(transcripts) + "\n"
        )
    bad = base / "wav" / f"an4_clstk/fash/an25{9}-fash-b.{kind}"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"" if kind == "raw" else BROKEN)
    with (base / "etc" / "an4_train.fileids").open("a") as f:
        f.write("an4_clstk/fash/an259-fash-b\n")
    with (base / "etc" / "an4_train.transcription").open("a") as f:
        f.write("<s> BROKEN </s> (an259-fash-b)\n")
    return root


@pytest.mark.parametrize("kind", ["sph", "raw"])
def test_an4(tmp_path, capsys, kind):
    if kind == "raw" and not (shutil.which("sox") or shutil.which("ffmpeg")):
        pytest.skip("needs sox or ffmpeg")
    recipe = load_recipe("an4")
    source, out = an4(tmp_path / "src", kind), tmp_path / "out"
    counts = recipe.prepare(source, out)
    check_run(out, capsys, "an259-fash-b", counts)
    assert counts["train"] + counts["dev"] == 4 and counts["test"] == 1
    entry = lines(out / "test.jsonl")[0]
    assert entry["text"] == "RUBOUT G M E F THREE NINE"
    assert entry["audio"].endswith(".sph" if kind == "sph" else ".flac")
    if kind == "raw":  # converted exactly: same samples as the raw file held
        samples, rate = sf.read(
            read_manifest(out / "test.jsonl")[0]["audio"], dtype="int16"
        )
        assert rate == 16000 and np.array_equal(samples, SPEECH[:16000])
    rerun_is_identical(lambda: recipe.prepare(source, out), out, counts)


# --- shared helpers ---------------------------------------------------------------


def test_download_resumes_and_verifies(tmp_path):
    payload = bytes(range(256)) * 100
    served = tmp_path / "served.bin"
    served.write_bytes(payload)
    dest = tmp_path / "got" / "file.bin"
    dest.parent.mkdir()
    (tmp_path / "got" / "file.bin.part").write_bytes(
        payload[:100]
    )  # interrupted before
    got = download(served.as_uri(), dest, sha256=hashlib.sha256(payload).hexdigest(),
                   md5=hashlib.md5(payload).hexdigest(), size=len(payload))  # fmt: skip
    assert got.read_bytes() == payload and not dest.with_name("file.bin.part").exists()
    with pytest.raises(ValueError, match="size"):
        download(served.as_uri(), dest, size=1)  # an existing file is verified too


def test_extract_refuses_truncated_tar(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        t.add(KATHLEEN[0], "a/speech.flac")
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ValueError, match="corrupt|truncated|not a zip or tar"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / ".cut.tar.gz.extracted").exists()


@pytest.mark.skipif(not shutil.which("sox"), reason="needs sox")
def test_readable_audio_converts_what_libsndfile_cannot_read(tmp_path):
    """A SPHERE file libsndfile rejects (32-bit samples) is converted by sox."""
    source = write_audio(tmp_path / "talk.wav", 0.5)
    sph = tmp_path / "talk.sph"
    subprocess.run(
        ["sox", str(source), "-t", "sph", "-b", "32", "-e", "signed-integer", str(sph)],
        check=True,
    )
    with pytest.raises(Exception):  # noqa: B017 - libsndfile's own error type varies
        sf.info(str(sph))
    path, duration = readable_audio(sph, tmp_path / "converted")
    assert path.suffix == ".flac" and duration == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    "name",
    ["fsdd", "kathleen", "vctk_p239", "vctk", "librispeech", "commonvoice",
     "ljspeech", "tedlium", "an4"],
)  # fmt: skip
def test_main_hands_every_flag_to_prepare(name, tmp_path, monkeypatch):
    """asr.data.prepare.recipe_main passes each flag as a keyword named like it, so
    every recipe's flags must be parameters of its prepare (``--out-dir`` ->
    ``out_dir``)."""
    recipe, calls = load_recipe(name), []
    signature = inspect.signature(recipe.prepare)
    monkeypatch.setattr(recipe, "prepare", lambda **kwargs: calls.append(kwargs))
    recipe.main(["--out-dir", str(tmp_path)])
    (kwargs,) = calls
    assert kwargs["out_dir"] == tmp_path and kwargs["source"] is None
    signature.bind(**kwargs)  # TypeError if a flag has no parameter to go to
    with pytest.raises(SystemExit) as bad:
        recipe.main(["--no-such-flag"])
    assert bad.value.code == 2 and len(calls) == 1


def test_hash_split_is_stable_and_keeps_its_percentages():
    keys = [f"speaker{i}" for i in range(10_000)]
    splits = [hash_split(k, dev_percent=5, test_percent=10) for k in keys]
    assert splits == [hash_split(k, 5, 10) for k in keys]  # same key, same split
    assert 0.04 < splits.count("dev") / len(keys) < 0.06
    assert 0.09 < splits.count("test") / len(keys) < 0.11
    assert {hash_split(k, 5, 0) for k in keys} == {"dev", "train"}  # no test share
