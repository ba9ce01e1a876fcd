"""Beam search, hotwords and word timestamps on hand-built emission matrices."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA, DIGITS

from asr.audio.io import load_audio
from asr.cli import main
from asr.core.text import CharTokenizer
from asr.decoding.alignment import align_words
from asr.decoding.arpa import write_arpa
from asr.decoding.beam import BeamSearchDecoder, DecodeConfig, HotwordLM
from asr.decoding.greedy import greedy_decode
from asr.decoding.lm import LMConfig, estimate
from asr.decoding.settings import parse_hotwords
from asr.inference.evaluate import evaluate
from asr.inference.transcribe import load_model
from asr.inference.tune import dev_posteriors

TOK = CharTokenizer()
DIGIT_WORDS = set("zero one two three four five six seven eight nine".split())


def emissions(frames: list[dict[str, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, T, V) log posteriors: each frame gives some labels a probability
    ("_" is blank); the rest of the mass is spread evenly."""
    x = torch.zeros(1, len(frames), len(TOK))
    for t, probs in enumerate(frames):
        rest = (1 - sum(probs.values())) / (len(TOK) - len(probs))
        x[0, t] = rest
        for label, p in probs.items():
            x[0, t, 0 if label == "_" else TOK.ids[label]] = p
    return x.log(), torch.tensor([len(frames)])


def spell(text: str, confidence: float = 0.9) -> list[dict[str, float]]:
    """One confident frame per character, a blank after each."""
    frames = []
    for c in text:
        frames += [{c: confidence}, {"_": confidence}]
    return frames


def ambiguous(
    before: str, options: dict[str, float], after: str
) -> list[dict[str, float]]:
    return spell(before) + [options, {"_": 0.9}] + spell(after)


@pytest.fixture
def lm_path(tmp_path):
    def build(sentences, order=2):
        path = tmp_path / f"lm{len(list(tmp_path.iterdir()))}.arpa"
        write_arpa(
            path, estimate(sentences, LMConfig(order=order, min_counts=(1, 1, 1)))
        )
        return path

    return build


def test_beam_without_lm_equals_greedy():
    log_probs, lens = emissions(
        spell("the cat  sat") + [{"t": 0.5, "_": 0.4}] + spell("a")
    )
    decoder = BeamSearchDecoder(TOK.vocab, None, DecodeConfig(beam_size=10))
    assert (
        decoder(log_probs, lens)
        == greedy_decode(log_probs, lens, TOK)
        == ["the cat satta"]
    )


def test_lm_outweighs_a_slight_acoustic_preference(lm_path):
    lm = lm_path(["the cat sat"] * 10 + ["a cot"])
    log_probs, lens = emissions(ambiguous("the c", {"o": 0.5, "a": 0.4}, "t sat"))
    assert greedy_decode(log_probs, lens, TOK) == ["the cot sat"]
    no_lm = BeamSearchDecoder(TOK.vocab, lm, DecodeConfig(lm_weight=0.0))
    assert no_lm(log_probs, lens) == ["the cot sat"]
    with_lm = BeamSearchDecoder(TOK.vocab, lm, DecodeConfig(lm_weight=2.0))
    assert with_lm(log_probs, lens) == ["the cat sat"]


def test_hotword_wins_over_an_acoustically_close_word(lm_path):
    lm = lm_path(["the cat sat", "the cot sat"] * 5)
    log_probs, lens = emissions(ambiguous("the c", {"o": 0.5, "a": 0.4}, "t sat"))
    plain = BeamSearchDecoder(TOK.vocab, lm, DecodeConfig(lm_weight=0.5))
    assert plain(log_probs, lens) == ["the cot sat"]
    boosted = BeamSearchDecoder(
        TOK.vocab, lm, DecodeConfig(lm_weight=0.5, hotwords=(("Cat", 2.0),))
    )
    assert boosted(log_probs, lens) == ["the cat sat"]


def test_hotword_outside_the_lm_vocabulary_can_be_output(lm_path):
    lm = lm_path(["the cat sat"] * 5)
    log_probs, lens = emissions(spell("the zorg sat"))
    plain = BeamSearchDecoder(TOK.vocab, lm, DecodeConfig())
    assert "zorg" not in plain(log_probs, lens)[0]  # not in the lexicon
    boosted = BeamSearchDecoder(TOK.vocab, lm, DecodeConfig(hotwords=(("zorg", 1.0),)))
    assert boosted(log_probs, lens) == ["the zorg sat"]


def test_words_end_only_where_the_model_puts_a_boundary(lm_path):
    """A heard word is not cut into shorter LM words without a space between them,
    however much the LM prefers them: "six" with a doubtful second x stays "six"."""
    lm = lm_path(["si xx"] * 3 + ["six"])
    doubtful_x = [{"x": 0.6, "_": 0.3}, {"_": 0.9}, {"x": 0.45, "_": 0.45}, {"_": 0.9}]
    log_probs, lens = emissions(spell("si") + doubtful_x)
    for weight in (0.5, 2.0):
        decoder = BeamSearchDecoder(TOK.vocab, lm, DecodeConfig(lm_weight=weight))
        assert decoder(log_probs, lens) == ["six"]
    # where the model does put a boundary, the two words are found
    log_probs, lens = emissions(spell("si xx"))
    assert decoder(log_probs, lens) == ["si xx"]


class Words:
    get_index = staticmethod(lambda word: {"new": 1, "york": 2, "city": 3}.get(word, 0))


def test_phrase_bonus_is_paid_only_for_whole_phrases():
    lm = HotwordLM(
        None, Words(), DecodeConfig(lm_weight=2.0, hotwords=(("New York", 1.5),))
    )
    assert lm.advance((), 1) == ((1,), 1.5)  # "new": a partial match earns 1.5
    assert lm.advance((1,), 2) == ((), 1.5)  # "york" completes it: 3.0 in all, kept
    assert lm.advance((1,), 3) == (
        (),
        -1.5,
    )  # "new city": the partial bonus is returned
    assert lm.advance((1,), 1) == ((1,), 0.0)  # "new new": still one open "new"
    assert lm.scale == 0.5  # bonuses are in beam-score units, the LM score is scaled


def test_parse_hotwords(tmp_path):
    assert parse_hotwords("Zorblax:5, new york") == (
        ("Zorblax", 5.0),
        ("new york", 3.0),
    )
    path = tmp_path / "hot.txt"
    path.write_text("alpha\n\nbeta gamma:1.5\n")
    assert parse_hotwords(str(path)) == (("alpha", 3.0), ("beta gamma", 1.5))
    with pytest.raises(ValueError, match="not a number"):
        parse_hotwords("x:big")


def test_hotwords_need_an_lm():
    with pytest.raises(ValueError, match="need a word LM"):
        BeamSearchDecoder(TOK.vocab, None, DecodeConfig(hotwords=(("x", 1.0),)))


def test_word_timestamps_on_known_spans():
    # frames: _ c c a t _ space d o o g _ ; 20 ms each
    labels = ["_", "c", "c", "a", "t", "_", " ", "d", "o", "o", "g", "_"]
    frames = [{label: 0.9} for label in labels]
    frames[3] = {"a": 0.6}  # a less certain frame inside "cat"
    log_probs, _ = emissions(frames)
    words = align_words(log_probs[0], "cat dog", TOK, frame_s=0.02)
    assert [w.word for w in words] == ["cat", "dog"]
    assert words[0].start == pytest.approx(0.02) and words[0].end == pytest.approx(0.10)
    assert words[1].start == pytest.approx(0.14) and words[1].end == pytest.approx(0.22)
    assert words[0].confidence == pytest.approx((0.9 * 3 + 0.6) / 4, abs=1e-5)
    assert words[0].min_confidence == pytest.approx(0.6, abs=1e-5)
    assert words[1].confidence == pytest.approx(0.9, abs=1e-5)


def test_word_timestamps_without_frames_for_spaces():
    log_probs, _ = emissions([{c: 0.9} for c in "abc"])  # no frame for a space
    words = align_words(log_probs[0], "ab c", TOK, frame_s=0.04)
    assert [(w.word, w.start, w.end) for w in words] == [
        ("ab", 0.0, 0.08),
        ("c", 0.08, 0.12),
    ]
    with pytest.raises(ValueError, match="do not fit"):
        align_words(log_probs[0], "aab", TOK, frame_s=0.04)


def test_transcribe_words_times_follow_frame_duration(tiny_checkpoint):
    from asr.inference.transcribe import load_model

    model = load_model(tiny_checkpoint)
    assert model.frame_seconds == pytest.approx(160 * 2 / 16000)
    words = model.transcribe_words(DATA / "2_jackson_1.wav")
    assert " ".join(w.word for w in words) == model.transcribe(DATA / "2_jackson_1.wav")
    for w in words:
        assert 0 <= w.start < w.end and 0 <= w.min_confidence <= w.confidence <= 1


def test_tune_decoder_writes_settings_transcribe_reads(
    tiny_checkpoint, tmp_path, capsys
):
    manifest = tmp_path / "dev.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"audio": str(DATA / n), "text": t, "duration": 1.0}) + "\n"
            for n, t in DIGITS.items()
        )
    )
    lm = tmp_path / "digits.arpa"
    assert (
        main(["lm", "build", str(_digits(tmp_path)), "-o", str(lm), "--order", "2"])
        == 0
    )
    best = tmp_path / "best.json"
    code = main(["tune-decoder", "--model", str(tiny_checkpoint), "--lm", str(lm),
                 "--manifest", str(manifest), "--beam-sizes", "4",
                 "--lm-weights", "0", "1",
                 "--word-scores", "0", "--output", str(best)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "greedy WER" in out
    assert (
        len([line for line in out.splitlines() if line.strip().startswith("4 ")]) == 2
    )
    settings = json.loads(best.read_text())
    assert settings["beam_size"] == 4 and settings["lm_weight"] in (0, 1)
    assert settings["lm"] == "digits.arpa"  # it lies beside best.json
    assert 0 <= settings["dev_wer"] and 0 < settings["dev_rtf"]
    assert out.count("<- chosen") == 1
    code = main(["transcribe", "--model", str(tiny_checkpoint),
                 "--decoder-config", str(best),
                 str(DATA / "2_jackson_1.wav")])  # fmt: skip
    text = capsys.readouterr().out.strip()
    assert code == 0 and set(text.split()) <= set(DIGITS.values()) | {
        "zero",
        "one",
        "three",
        "five",
        "seven",
        "nine",
    }


def _digits(tmp_path):
    path = tmp_path / "digits.txt"
    path.write_text("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n")
    return path


def test_transcribe_beam_flags(tiny_checkpoint, tmp_path, capsys):
    lm = tmp_path / "digits.arpa"
    assert (
        main(["lm", "build", str(_digits(tmp_path)), "-o", str(lm), "--order", "2"])
        == 0
    )
    capsys.readouterr()
    wav = str(DATA / "4_theo_2.wav")
    assert main(["transcribe", "--model", str(tiny_checkpoint), "--lm", str(lm),
                 "--beam", "5", "--lm-weight", "1", "--word-score", "0",
                 "--hotwords", "four:2", "--word-timestamps", wav]) == 0  # fmt: skip
    # the random model may say nothing
    for line in capsys.readouterr().out.splitlines():
        start, end, confidence, word = line.split("\t")
        assert float(start) < float(end) and 0 <= float(confidence) <= 1
        assert word in DIGIT_WORDS
    assert main(["transcribe", "--model", str(tiny_checkpoint),
                 "--lm", str(tmp_path / "no.arpa"), wav]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no.arpa" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", [["transcribe"], ["evaluate"]])
def test_help_lists_decoder_flags(command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    out = capsys.readouterr().out
    for flag in [
        "--lm",
        "--beam",
        "--lm-weight",
        "--word-score",
        "--hotwords",
        "--decoder-config",
    ]:
        assert flag in out


def test_tune_decoder_keeps_to_the_speed_budget(tiny_checkpoint, tmp_path, capsys):
    from asr.inference.tune import choose

    rows = [{"beam_size": 800, "wer": 0.70, "rtf": 0.20},
            {"beam_size": 50, "wer": 0.72, "rtf": 0.01}]  # fmt: skip
    assert choose(rows, None)["beam_size"] == 800
    assert choose(rows, 0.05)["beam_size"] == 50
    with pytest.raises(ValueError, match="fastest took 0.0100"):
        choose(rows, 0.001)
    manifest = tmp_path / "dev.jsonl"
    entry = {"audio": str(DATA / "2_jackson_1.wav"), "text": "two", "duration": 1.0}
    manifest.write_text(json.dumps(entry) + "\n")
    lm = tmp_path / "digits.arpa"
    assert main(["lm", "build", str(_digits(tmp_path)), "-o", str(lm)]) == 0
    out = tmp_path / "best.json"
    code = main(["tune-decoder", "--model", str(tiny_checkpoint), "--lm", str(lm),
                 "--manifest", str(manifest), "--beam-sizes", "4",
                 "--lm-weights", "1", "--word-scores", "0", "--max-rtf", "1e-9",
                 "--output", str(out)])  # fmt: skip
    assert code == 2 and not out.exists()
    assert "--max-rtf" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["lm", "build"], ["tune-decoder"], ["lm"]])
def test_new_commands_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: asr" in capsys.readouterr().out


def test_lm_that_kenlm_refuses_is_a_clear_error(tmp_path):
    # unigrams fine (the lexicon reads), bigram line broken
    lm = tmp_path / "broken.arpa"
    lm.write_text("\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1\t<s>\t0\n"
                  "-1\ta\t0\n\n"
                  "\\2-grams:\nfoo\t<s> a\n\n\\end\\\n")  # fmt: skip
    with pytest.raises(ValueError, match="broken.arpa: KenLM cannot load it"):
        BeamSearchDecoder(TOK.vocab, lm)


def test_evaluate_with_lm_beam_search(tiny_checkpoint, tmp_path, capsys):
    manifest = tmp_path / "test.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"audio": str(DATA / n), "text": t, "duration": 1.0}) + "\n"
            for n, t in DIGITS.items()
        )
    )
    lm = tmp_path / "digits.arpa"
    assert (
        main(["lm", "build", str(_digits(tmp_path)), "-o", str(lm), "--order", "2"])
        == 0
    )
    report = tmp_path / "report.json"
    assert main(["evaluate", str(manifest), "--model", str(tiny_checkpoint),
                 "--lm", str(lm), "--beam", "4",
                 "--output", str(report)]) == 0  # fmt: skip
    for result in json.loads(report.read_text())["results"]:
        assert set(result["hyp"].split()) <= DIGIT_WORDS  # only LM words come out


def two_digits_apart(tmp_path) -> tuple[np.ndarray, dict]:
    """Two spoken digits 1.5 s apart, as a wave and a manifest entry."""
    pause = np.zeros(24000, dtype=np.float32)
    wave = np.concatenate([load_audio(DATA / "4_theo_2.wav"), pause,
                           load_audio(DATA / "8_george_3.wav")])  # fmt: skip
    sf.write(tmp_path / "two.wav", wave, 16000)
    entry = {"audio": str(tmp_path / "two.wav"), "text": "four eight", "duration": 3.0}
    return wave, entry


def test_tune_decoder_scores_the_segments_transcribe_decodes(tmp_path):
    """tune-decoder's dev pass decodes the same two voice-activity segments that
    ``transcribe`` does, not the whole recording."""
    model = load_model("data/models/digits.pt")
    wave, entry = two_digits_apart(tmp_path)
    refs, windows = dev_posteriors(model, [entry])
    assert refs == ["four eight"] and len(windows[0]) == 2
    texts = [model.greedy(w, torch.tensor([w.shape[1]]))[0] for w in windows[0]]
    assert " ".join(texts) == model.transcribe(wave, decoder="greedy")


def test_evaluate_scores_the_segments_transcribe_decodes(tmp_path, monkeypatch):
    """``asr evaluate`` (and training's dev pass) decode the voice-activity
    segments too, so their figures are those of ``transcribe``."""
    model = load_model("data/models/digits.pt")
    wave, entry = two_digits_apart(tmp_path)
    decoded, transcribe_batch = [], model.transcribe_batch

    def counting(waves, *args, **kwargs):
        decoded.append(len(waves))
        return transcribe_batch(waves, *args, **kwargs)

    monkeypatch.setattr(model, "transcribe_batch", counting)
    report = evaluate(model, [entry], progress=False, decoder="greedy")
    assert decoded == [2]  # one batch of the two segments
    assert report["results"][0]["hyp"] == model.transcribe(wave, decoder="greedy")
