"""recipes/english: sentence filtering and exclusion, a deterministic plan weighted
toward the natural voices, real espeak-ng and flite synthesis into tmp_path, resuming,
the manifest's engine/voice/variation, the train/dev/test manifests and the
side-by-side evaluation."""

import gzip
import json
import shutil
import sys
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, ROOT, load_recipe

from asr.data.manifest import read_manifest
from asr.synthesis import tts
from asr.synthesis.channel import draw_variation

DIGITS_LM = ROOT / "data" / "models" / "digits.arpa"


synth = load_recipe("english", "synthesize")
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="no espeak-ng"
)
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="no flite")

SENTENCES = [
    "The cat sat on the mat.",
    "Please call Stella.",  # excluded below: a VCTK p239 sentence
    "She sells sea shells by the sea shore.",
    "Rain fell softly on the quiet town.",
    "We walked home along the river.",
]


@pytest.fixture
def text_dir(tmp_path):
    folder = tmp_path / "text"
    folder.mkdir()
    with gzip.open(folder / "tiny.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(SENTENCES) + "\n")
    return folder


@pytest.fixture
def exclude(tmp_path):
    path = tmp_path / "test.jsonl"
    entry = {"audio": "a.flac", "text": "please call  STELLA!", "duration": 1.0}
    path.write_text(json.dumps(entry) + "\n")
    return path


@pytest.mark.parametrize(
    "sentence, kept",
    [
        ("The cat sat on the mat.", True),
        ("Hello there.", False),  # two words
        ("He paid 30 dollars for it.", False),  # digits: TTS and normaliser disagree
        ("Mr. Smith went to town today.", False),  # abbreviation inside
        ("The FBI came to the house.", False),  # acronym, spelled out by the TTS
        ('He said, "we\'ll see" and left the room.', True),
        (" ".join(["word"] * 26), False),  # too long
    ],
)
def test_keep_sentence(sentence, kept):
    assert synth.keep_sentence(sentence) is kept


def test_excluded_sentences_are_never_planned(text_dir, exclude):
    sentences = synth.load_sentences(text_dir, [exclude])
    texts = [s for _, s in sentences]
    assert "Please call Stella." not in texts  # matched after normalize_text
    assert len(texts) == 4 and {c for c, _ in sentences} == {"tiny"}


def test_exclusion_reads_plain_and_gzipped_text(text_dir, tmp_path):
    plain = tmp_path / "held_out.txt"
    plain.write_text("the cat sat on the mat\n")
    only_plain = [s for _, s in synth.load_sentences(text_dir, [plain])]
    assert "The cat sat on the mat." not in only_plain and len(only_plain) == 4
    gz = text_dir / "tiny.txt.gz"
    assert synth.load_sentences(text_dir, [plain, gz]) == []


VOICES = tuple(
    tts.find_voice(v)
    for v in ("espeak-ng:en-US", "flite:slt", "hibari:heart", "mbrola:mb-us1")
)


def test_plan_is_deterministic_and_sized(text_dir):
    sentences = synth.load_sentences(text_dir, [])
    first = synth.plan(sentences, VOICES, hours=1.0, seed=7, variants=("f3",))
    assert first == synth.plan(sentences, VOICES, hours=1.0, seed=7, variants=("f3",))
    other = synth.plan(sentences, VOICES, hours=1.0, seed=8, variants=("f3",))
    assert [(u.text, u.voice) for u in first] != [(u.text, u.voice) for u in other]
    assert sorted(u.text for u in first) == sorted(SENTENCES)  # each sentence once
    one = synth.plan(sentences, VOICES, hours=1e-6, seed=7, variants=("f3",))
    assert one == first[:1]  # stops as soon as the estimate reaches --hours, and a
    #                          larger --hours only extends the plan
    with pytest.raises(SystemExit, match="install_voices.sh"):
        synth.plan(sentences, (), hours=1.0, seed=7)


def test_plan_weights_the_natural_voices():
    sentences = [("c", f"sentence number {i} is here") for i in range(3000)]
    utterances = synth.plan(sentences, tts.VOICES, hours=100, seed=0, variants=("f3",))
    natural = {v.id for v in tts.VOICES if v.natural}
    share = np.mean([u.voice in natural for u in utterances])
    assert share == pytest.approx(0.76, abs=0.03)  # ENGINE_SHARE
    engines = {u.engine for u in utterances}
    assert engines == set(synth.ENGINE_SHARE)
    assert len({u.voice for u in utterances}) == len(tts.VOICES)  # every voice used
    espeak = [u for u in utterances if u.engine == "espeak-ng"]
    assert {u.variant for u in espeak} == {"", "f3"}
    assert all(u.variant == "" for u in utterances if u.engine != "espeak-ng")
    assert all(u.pitch == 1.0 for u in utterances if u.engine in ("piper", "flite"))
    assert all(0.3 <= u.strength <= 1.0 and 0.85 <= u.rate <= 1.2 for u in utterances)


def _utterances(text_dir, voice, variant=""):
    """Three planned sentences, all spoken by one fixed voice."""
    sentences = synth.load_sentences(text_dir, [])[:3]
    plan = synth.plan(sentences, VOICES, hours=1.0, seed=1)
    return [replace(u, voice=voice, variant=variant, pitch=1.0) for u in plan]


@needs_espeak
@pytest.mark.parametrize("variant", ["", "f3"])
def test_espeak_synthesis_is_deterministic_and_resumable(text_dir, tmp_path, variant):
    utterances = _utterances(text_dir, "espeak-ng:en-US", variant)
    entries = synth.synthesize(utterances, tmp_path / "a", jobs=1)
    assert len(entries) == 3
    for entry, u in zip(entries, utterances, strict=True):
        samples, rate = sf.read(entry["audio"])
        assert rate == 16_000 and samples.ndim == 1
        assert 0.5 < len(samples) / rate == pytest.approx(entry["duration"], abs=1e-3)
        assert np.sqrt(np.mean(samples**2)) > 0.001  # speech, not silence
        assert entry["text"] == synth.normalize_text(u.text)
        # the manifest says who spoke it, how, and in which channel
        assert entry["engine"] == "espeak-ng" and entry["voice"] == "espeak-ng:en-US"
        assert entry["variant"] == variant and entry["rate"] == u.rate
        assert entry["variation"] == draw_variation(u.seed, u.strength).describe()
    assert json.loads((tmp_path / "a/speed.json").read_text())["espeak-ng"]["seconds"]
    again = synth.synthesize(utterances, tmp_path / "b", jobs=2)
    for a, b in zip(entries, again, strict=True):
        assert np.array_equal(sf.read(a["audio"])[0], sf.read(b["audio"])[0])
    # resume: done files are kept untouched, a missing and a corrupt one are remade
    paths = [tmp_path / "a" / u.name for u in utterances]
    stamp = paths[0].stat().st_mtime_ns
    paths[1].unlink()
    paths[2].write_bytes(b"fLaC broken")
    manifest = (tmp_path / "a/manifest.jsonl").read_text()
    synth.synthesize(utterances, tmp_path / "a", jobs=1)
    assert paths[0].stat().st_mtime_ns == stamp
    assert all(synth.is_done(p) for p in paths)
    assert (tmp_path / "a/manifest.jsonl").read_text() == manifest


@needs_flite
@pytest.mark.parametrize("voice", ["flite:kal", "flite:slt"])
def test_flite_synthesis(text_dir, tmp_path, voice):
    entries = synth.synthesize(_utterances(text_dir, voice), tmp_path, jobs=2)
    assert len(entries) == 3
    for entry in entries:
        samples, rate = sf.read(entry["audio"])
        assert rate == 16_000 and np.sqrt(np.mean(samples**2)) > 0.001
        assert entry["voice"] == voice and entry["engine"] == "flite"


@needs_espeak
@needs_flite
def test_main_picks_engines_and_skips_voices(text_dir, tmp_path):
    out = tmp_path / "out"
    synth.main(["--text-dir", str(text_dir), "--out-dir", str(out), "--hours", "0.002",
                "--jobs", "1", "--engines", "espeak-ng", "flite",
                "--skip-voices", "en-US", "slt"])  # fmt: skip
    voices = json.loads((out / "plan.json").read_text())["voices"]
    assert "flite:kal" in voices and "espeak-ng:en-GB-x-rp" in voices
    assert all(v.split(":")[0] in ("espeak-ng", "flite") for v in voices)
    assert not [v for v in voices if "en-US" in v or "slt" in v]
    entries = _read(out / "manifest.jsonl")
    assert entries and {e["voice"] for e in entries} <= set(voices)


@needs_flite
def test_check_voices_scores_speed_and_intelligibility(text_dir, tmp_path, capsys):
    pytest.importorskip("pocketsphinx")
    sys.path.insert(0, str(ROOT / "recipes/english"))  # its sibling imports
    check_voices = load_recipe("english", "check_voices")
    out = tmp_path / "voices.json"
    argv = ["--text-dir", str(text_dir), "--sentences", "1", "--engines", "flite",
            "--output", str(out)]  # fmt: skip
    assert check_voices.main(argv) == 0
    rows = json.loads(out.read_text())
    flite = [v.id for v in tts.available_voices() if v.engine == "flite"]
    assert [r["voice"] for r in rows] == flite
    assert all(r["x_real_time"] > 0 and 0 <= r["pocketsphinx_wer"] for r in rows)
    assert "flite:kal16" in capsys.readouterr().out


def test_a_failing_voice_is_reported_and_left_out(text_dir, tmp_path, capsys):
    utterances = _utterances(text_dir, "espeak-ng:en-US")
    broken = replace(utterances[1], voice="no-such:voice")
    entries = synth.synthesize([utterances[0], broken], tmp_path, jobs=1)
    assert len(entries) == (1 if shutil.which("espeak-ng") else 0)
    assert "utterance 1 (no-such:voice): unknown voice" in capsys.readouterr().err


@needs_espeak
def test_installed_voices_are_english_and_speak():
    """Every voice installed here is one of the pinned inventory and says an English
    sentence (the inventory itself is pinned: tests/test_tts.py)."""
    voices = tts.available_voices()
    assert voices and set(voices) <= set(tts.VOICES)
    for voice in voices:
        wave = tts.speak(voice, "Good morning to you.")
        assert 0.4 < len(wave) / 16_000 < 4.0, voice.id
        assert np.sqrt(np.mean(wave**2)) > 0.005, voice.id
    variants = synth.espeak_variants()
    assert "f3" in variants and all(" " not in v for v in variants)


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _shared(tmp_path):
    """Fixture manifests of every shared set prepare.py reads."""
    shared = tmp_path / "shared"
    kathleen = [
        {"audio": f"k{i}.flac", "text": f"prompt {i % 4}", "duration": 2.0,
         "prompt_id": f"arctic_a{i % 4:04d}", "speaker": "kathleen"}
        for i in range(10)
    ]  # fmt: skip
    _write(shared / "speech/kathleen/manifest.jsonl", kathleen)
    fsdd = [
        {"audio": "0.flac", "text": "zero", "duration": 0.4, "split": "test"},
        {"audio": "1.flac", "text": "one", "duration": 0.4, "split": "train"},
    ]
    _write(shared / "speech/fsdd/manifest.jsonl", fsdd)
    vctk = [{"audio": "v.flac", "text": "Please call Stella.", "duration": 2.0}]
    _write(shared / "speech/vctk_p239/manifest.jsonl", vctk)
    dev = [{"audio": f"d{i}.flac", "text": f"dev sentence {i}", "duration": 5.0,
            "speaker": str(i % 2)} for i in range(6)]  # fmt: skip
    _write(shared / "speech/librispeech_other_dev/manifest.jsonl", dev)
    # 25 clips of "alexa" and 12 of "snowboy", interleaved in manifest order
    words = ["alexa"] * 25 + ["snowboy"] * 12
    order = sorted(range(37), key=lambda i: (i * 7) % 37)
    wake = [{"audio": f"w{i}.flac", "text": words[i], "duration": 3.0,
             "speaker": "unknown", "keyword": words[i]} for i in order]  # fmt: skip
    _write(shared / "speech/wakewords/manifest.jsonl", wake)
    books = [{"audio": f"l{i}.ogg", "text": f"book line {i}", "duration": 12.0,
              "speaker": f"r{i % 3}"} for i in range(4)]  # fmt: skip
    _write(shared / "speech/librispeech_train/manifest.jsonl", books)
    ocean = [{"audio": "o.ogg", "text": "we call it bear", "duration": 2.5,
              "speaker": "0001"}]  # fmt: skip
    _write(shared / "speech/speechocean762_train/manifest.jsonl", ocean)
    commands = [{"audio": f"c{i}.ogg", "text": "go", "duration": 1.0,
                 "speaker": f"s{i}", "split": "test" if i == 0 else "train"}
                for i in range(3)]  # fmt: skip
    _write(shared / "speech/speech_commands/manifest.jsonl", commands)
    clean = [{"audio": "t.flac", "text": "a clean test line", "duration": 4.0,
              "speaker": "1089"}]  # fmt: skip
    _write(shared / "speech/librispeech_clean_test/manifest.jsonl", clean)
    return shared, wake


def test_wakeword_test_set_is_every_tenth_clip_of_each_keyword(tmp_path):
    prepare = load_recipe("english", "prepare")
    _, wake = _shared(tmp_path)
    train, test = prepare.split_wakewords(wake)
    alexa = [e["audio"] for e in wake if e["keyword"] == "alexa"]
    snowboy = [e["audio"] for e in wake if e["keyword"] == "snowboy"]
    expected = {alexa[0], alexa[10], alexa[20], snowboy[0], snowboy[10]}
    assert {e["audio"] for e in test} == expected and len(test) == 5
    assert len(train) == 32 and not {e["audio"] for e in train} & expected
    assert [e for e in wake if e in test] == test  # manifest order kept


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_pack_puts_real_speech_first_and_fills_parts_within_budget(tmp_path):
    pack = load_recipe("english", "pack")
    src = DATA / "arctic_a0001.flac"
    real = [
        {"audio": str(src), "text": "author", "duration": 3.0, "source": "kathleen"}
    ]
    synth = [
        {"audio": str(src), "text": f"s{i}", "duration": 3.0, "source": "synth"}
        for i in range(6)
    ]
    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    train.write_text(
        "".join(json.dumps(r) + "\n" for r in synth[:3] + real + synth[3:])
    )
    dev.write_text(json.dumps(real[0]) + "\n")
    out = tmp_path / "pack"
    pack.main(
        [
            "--train",
            str(train),
            "--dev",
            str(dev),
            "--out-dir",
            str(out),
            "--hours",
            str(5 * 3.0 / 3600),
            "--part-mib",
            "1",
            "1",
            "--jobs",
            "2",
        ]
    )
    encoded = sorted((out / "audio").glob("t*.opus"))
    assert len(encoded) == 5  # the hours cut: the real one and four synthetic
    size = encoded[0].stat().st_size
    assert 0 < size < src.stat().st_size  # 12 kbps Opus: smaller than the FLAC
    samples, rate = sf.read(encoded[0])
    assert rate == 16000 and abs(len(samples) / rate - sf.info(src).duration) < 0.05
    rows = [json.loads(line) for line in open(out / "part1/train_part1.jsonl")]
    assert rows[0]["source"] == "kathleen" and len(rows) == 5
    assert all(r["audio"].startswith("audio/t") for r in rows)  # the part travels
    assert all((out / "part1" / r["audio"]).exists() for r in rows)
    assert (out / "part2/train_part2.jsonl").read_text() == ""
    dev_rows = [json.loads(line) for line in open(out / "dev.jsonl")]
    assert dev_rows[0]["audio"].startswith("dev/audio/d")
    assert (out / dev_rows[0]["audio"]).exists()
    # a budget of two files per part: the rest spills into the next part, then stops
    budget = 2.5 * size / 2**20
    rows = read_manifest(out / "part1/train_part1.jsonl")
    parts = pack.split(rows, out, [budget, budget])
    assert [len(p) for p in parts] == [2, 2]
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"not audio at all")
    train.write_text(json.dumps({**real[0], "audio": str(broken)}) + "\n")
    with pytest.raises(SystemExit, match="broken.flac: cannot encode"):
        pack.main(
            ["--train", str(train), "--dev", str(dev), "--out-dir", str(out / "b")]
        )


def test_prepare_keeps_tests_apart(tmp_path):
    prepare = load_recipe("english", "prepare")
    shared, _ = _shared(tmp_path)
    synth_manifest = tmp_path / "synth/manifest.jsonl"
    sentences = [
        {"audio": f"s{i}.flac", "text": f"sentence {i}", "duration": 3.0,
         "engine": "hibari", "voice": "hibari:heart", "rate": 1.0}
        for i in range(100)
    ]  # fmt: skip
    _write(synth_manifest, sentences)
    # pseudo-labels: an empty label (the teacher heard nothing) is left out
    pseudo = tmp_path / "pseudo.jsonl"
    _write(pseudo, [{"audio": "u1.ogg", "text": "a label", "duration": 9.0,
                     "speaker": "p1", "teacher": "whisper-base"},
                    {"audio": "u2.ogg", "text": "", "duration": 2.0,
                     "speaker": "p2", "teacher": "whisper-base"}])  # fmt: skip
    counts = prepare.prepare(shared, synth_manifest, tmp_path / "out",
                             pseudo_manifest=pseudo)  # fmt: skip
    # synth: every 50th (0, 50) is dev_synth; wake words: 5 of 37 held out
    real = 10 + 32 + 1 + 4 + 1 + 2 + 1  # kathleen ... speech_commands train, pseudo
    expected = {"train": 98 + real, "dev": 6, "dev_synth": 2,
                "test_vctk_p239": 1, "test_fsdd": 1, "test_wakewords": 5,
                "test_librispeech_clean": 1, "test_speech_commands": 1}  # fmt: skip
    assert counts == expected
    out = tmp_path / "out"
    train = _read(out / "train.jsonl")
    assert {e["source"] for e in train} == {
        "synth", "kathleen", "wakewords", "fsdd", "librispeech", "speechocean",
        "speech_commands", "pseudo"}  # fmt: skip
    assert [e["teacher"] for e in train if e["source"] == "pseudo"] == ["whisper-base"]
    synth_entry = next(e for e in train if e["source"] == "synth")
    assert synth_entry["voice"] == "hibari:heart" and "rate" not in synth_entry
    held = {e["audio"] for e in _read(out / "test_wakewords.jsonl")}
    assert len(held) == 5 and not held & {e["audio"] for e in train}
    assert {e["source"] for e in _read(out / "dev.jsonl")} == {"librispeech_other_dev"}
    assert {e["text"] for e in _read(out / "test_fsdd.jsonl")} == {"zero"}
    # repeat counts set the real:synthetic ratio, one per real set
    repeats = {"kathleen": 2, "wakewords": 3, "fsdd": 1}
    more = prepare.prepare(shared, synth_manifest, tmp_path / "x", repeats, (),
                           pseudo)  # fmt: skip
    assert more == {**expected, "train": 98 + real + 10 + 2 * 32}
    prepare.main(["--shared", str(shared), "--synth-manifest", str(synth_manifest),
                  "--out-dir", str(tmp_path / "cli"), "--real-repeat", "2",
                  "--fsdd-repeat", "5", "--skip-voices", "hibari",
                  "--pseudo-manifest", str(pseudo)])  # fmt: skip
    cli = _read(tmp_path / "cli/train.jsonl")
    assert sum(e["source"] == "fsdd" for e in cli) == 5
    assert sum(e["source"] == "wakewords" for e in cli) == 64
    assert not [e for e in cli if e["source"] == "synth"]  # all were hibari
    # a test or dev sentence among the synthetic ones is refused
    for text, held_out in [("please call stella", "test_vctk_p239"),
                           ("dev sentence 3", "dev")]:  # fmt: skip
        leaked = [{"audio": "x.flac", "text": text, "duration": 2.0}] * 3
        _write(synth_manifest, leaked)
        with pytest.raises(SystemExit, match=f"{held_out} sentences are in train"):
            prepare.prepare(shared, synth_manifest, tmp_path / "out2")
    # a LibriSpeech test reader among the training readers is refused too
    _write(synth_manifest, sentences)
    reader = {"audio": "u.ogg", "text": "x", "duration": 1.0, "speaker": "1089"}
    _write(pseudo, [reader])
    with pytest.raises(SystemExit, match="test_librispeech_clean readers"):
        prepare.prepare(shared, synth_manifest, tmp_path / "out3", None, (), pseudo)


def test_evaluate_scores_both_systems_side_by_side(tiny_checkpoint, tmp_path, capsys):
    pytest.importorskip("pocketsphinx")
    evaluate = load_recipe("english", "evaluate")
    manifest = tmp_path / "digits.jsonl"
    _write(manifest, [{"audio": str(DATA / "2_jackson_1.wav"), "text": "two",
                       "duration": 0.4}, {"audio": str(DATA / "arctic_a0001.flac"),
                       "text": "Author of the danger trail, Philip Steels, etc.",
                       "duration": 3.3}])  # fmt: skip
    out = tmp_path / "eval.json"
    decoder = tmp_path / "digits.decoder.json"  # a tiny LM keeps the beam row quick
    decoder.write_text(json.dumps({"lm": str(DIGITS_LM), "beam_size": 5}))
    assert evaluate.main([str(manifest), "--model", str(tiny_checkpoint),
                          "--output", str(out), "--threads", "1", "--every", "1",
                          "--decoder-config", str(decoder)]) == 0  # fmt: skip
    reports = json.loads(out.read_text())
    assert [r["system"].split()[-1] for r in reports] == ["greedy", "beam", "en-us"]
    beam_words = {w for r in reports[1]["results"] for w in r["hyp"].split()}
    digits = set("zero one two three four five six seven eight nine".split())
    assert beam_words <= digits  # the beam can only say words of its LM
    for r in reports:
        assert r["words"] == 9 and len(r["results"]) == 2 and r["rtf"] > 0
        assert r["wer"] == r["word_errors"] / 9
    printed = capsys.readouterr().out
    assert printed.count("digits") == 3 and "RTF" in printed
    assert evaluate.main([str(manifest), "--model", str(tmp_path / "none.pt")]) == 2
    assert evaluate.main([str(manifest), "--systems", "greedy"]) == 2  # no --model
    assert "--model is needed" in capsys.readouterr().err
    only = tmp_path / "only.json"  # the baseline alone needs no checkpoint
    assert evaluate.main([str(manifest), "--systems", "pocketsphinx", "--limit", "1",
                          "--output", str(only)]) == 0  # fmt: skip
    assert [r["system"] for r in json.loads(only.read_text())] == ["pocketsphinx en-us"]


def test_tune_vad_joins_dev_speech_and_scores_every_setting(
    tiny_checkpoint, tmp_path, capsys
):
    tune_vad = load_recipe("english", "tune_vad")
    entries = [
        {"audio": str(DATA / "2_jackson_1.wav"), "text": "two", "duration": 0.4},
        {"audio": str(DATA / "arctic_a0001.flac"), "text": "author", "duration": 3.3},
    ]
    samples = tune_vad.long_recording(entries, gap_s=1.0)
    lengths = [len(tune_vad.load_audio(e["audio"])) for e in entries]
    assert len(samples) == sum(lengths) + 2 * 16_000
    gap = samples[lengths[0] : lengths[0] + 16_000]
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(gap.astype(np.float64) ** 2)))
    assert -61 < rms_dbfs < -59  # faint noise (-60 dBFS RMS), not speech
    manifest = tmp_path / "dev.jsonl"
    _write(manifest, entries)
    argv = [str(manifest), "--model", str(tiny_checkpoint), "--threads", "1",
            "--pauses", "0.3", "0.5", "--paddings", "0.1"]  # fmt: skip
    assert tune_vad.main(argv) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert sorted((r[0], r[1]) for r in rows) == [("0.3", "0.1"), ("0.5", "0.1")]
    wers = [float(r[3]) for r in rows]
    assert wers == sorted(wers)  # best first
    # a model that ships no decoder: "auto" (the default) decodes as greedy does
    assert tune_vad.main([*argv, "--decoder", "greedy"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "decoder greedy" in out[0]
    assert sorted(line.split() for line in out[2:]) == sorted(rows)
    assert tune_vad.main([str(manifest), "--model", str(tmp_path / "none.pt")]) == 2
