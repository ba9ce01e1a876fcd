"""recipes/commands: how tune_unk.py chooses the [unk] settings; the sets and
grammars prepare.py and evaluate.py use."""

import random

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA, load_recipe

from asr.audio.io import load_audio
from asr.decoding.grammar import UNK, load_grammar


def test_tune_unk_takes_the_middle_of_a_separating_range():
    tune_unk = load_recipe("commands", "tune_unk")
    # in-grammar margins down to -6, out-of-grammar up to -30, far transcripts:
    # every penalty 7.5 ... 27.5 makes no error, with or without a distance limit
    inside = [(0.0, 0.1), (-3.0, 0.3), (-6.0, 0.5)]
    outside = [(-30.0, 1.2), (-80.0, 1.5)]
    error, penalty, distance, *_ = tune_unk.choose(tune_unk.trade_offs(inside, outside))
    assert (error, penalty, distance) == (0.0, 17.5, float("inf"))  # not 7.5's edge


def test_tune_unk_uses_a_distance_limit_only_where_it_wins():
    tune_unk = load_recipe("commands", "tune_unk")
    # one out-of-grammar margin sits among the in-grammar ones: only the distance
    # (0.9 against at most 0.5 in grammar) tells it apart
    inside = [(0.0, 0.1), (-3.0, 0.3), (-6.0, 0.5)]
    outside = [(-4.0, 0.9), (-80.0, 1.5)]
    error, penalty, distance, *_ = tune_unk.choose(tune_unk.trade_offs(inside, outside))
    assert error == 0.0 and 0.5 <= distance < 0.9 and penalty >= 6.0


def test_every_evaluation_set_has_a_grammar_that_loads():
    """evaluate.py's sets name grammars it has; the Speech Commands grammar is the
    35 words, each tagged with its "word" slot, as prepare.py's references expect."""
    evaluate = load_recipe("commands", "evaluate")
    assert {grammar for _, grammar, _ in evaluate.SETS} == set(evaluate.GRAMMARS)
    words = load_grammar(evaluate.GRAMMARS["speech_commands"]).sentences
    assert len(words) == 35 and all(dict(s.slots) == {"word": s.text} for s in words)


def test_robot_sentences_use_only_the_speakers_words_and_parse():
    """prepare.py joins a speaker's own takes: every sentence it plans for a speaker
    is in robot.ini (a large grammar, scored with slots) and uses only words that
    speaker recorded; a speaker without a direction or digit still gets commands."""
    prepare = load_recipe("commands", "prepare")
    evaluate = load_recipe("commands", "evaluate")
    grammar = load_grammar(prepare.ROBOT_GRAMMAR)
    assert grammar.count >= 10**6
    rng = random.Random(0)
    for words in ({"go", "left", "five", "zero", "marvin"}, {"stop", "follow", "cat"}):
        texts = [prepare.robot_sentence(rng, words) for _ in range(50)]
        said = [t for t in texts if t]  # None: this draw found nothing to say
        assert len(said) > 30 and len(set(said)) >= 2
        for text in said:
            assert set(text.split()) <= words
            assert grammar.find(text) is not None, text
    assert prepare.robot_sentence(rng, {"bed", "house"}) is None
    found = grammar.find("marvin go left five zero")
    slots = {"robot": "marvin", "direction": "left", "steps": "five zero"}
    assert dict(found.slots) == slots
    assert evaluate.slot_hits(grammar, "go left five", dict(found.slots)) == 1
    assert evaluate.slot_hits(grammar, "[unk]", dict(found.slots)) == 0


def test_robot_sets_join_one_speakers_trimmed_takes(tmp_path):
    """Every clip is made of its speaker's own takes, trimmed (shorter than the
    untrimmed takes and gaps together), with the slots the grammar gives; the
    out-of-grammar clips say what the grammar cannot."""
    prepare = load_recipe("commands", "prepare")
    words, test, longest = ["left", "five", "zero", "go"], [], 0.0
    for f, word in zip(
        sorted(DATA.glob("*_*_*.wav")), ["left", "five", "zero", "go"], strict=True
    ):  # four committed takes, 0.5 s of silence added
        wave = load_audio(f)
        longest = max(longest, len(wave) / 16000)
        padded = tmp_path / f.name
        sf.write(padded, np.pad(wave, 8000), 16000)
        test.append({"audio": str(padded), "speaker": "s1", "text": word})
    inside, outside = prepare.robot_sets(test, tmp_path)
    grammar = load_grammar(prepare.ROBOT_GRAMMAR)
    # four takes: one sentence, and one word order unless the grammar can say it
    assert len(inside) + len(outside) in (1, 2) and inside
    for entry in inside:
        assert set(entry["text"].split()) <= set(words)
        assert dict(grammar.find(entry["text"]).slots) == entry["slots"]
        n = len(entry["text"].split())  # the added silence is cut: gaps <= 0.3 s
        assert entry["duration"] <= n * (longest + 0.3) + 0.3
        samples = len(load_audio(entry["audio"]))
        assert abs(samples - entry["duration"] * 16000) <= 16  # rounded to 1 ms
    for entry in outside:
        assert entry["text"] == UNK and grammar.find(entry["said"]) is None


def test_join_takes_puts_a_chosen_take_after_each_gap_and_the_first_gap_last():
    prepare = load_recipe("commands", "prepare")
    one, two = np.full(160, 0.5, np.float32), np.full(320, -0.5, np.float32)
    wave = prepare.join_takes(random.Random(0), [[one], [two, two]], (0.1, 0.2))
    expect = random.Random(0)
    first = int(expect.uniform(0.1, 0.2) * 16000)
    expect.choice([one])
    second = int(expect.uniform(0.1, 0.2) * 16000)
    assert len(wave) == first + 160 + second + 320 + first
    assert not wave[:first].any() and (wave[first : first + 160] == 0.5).all()
    assert (wave[first + 160 + second : -first] == -0.5).all()
    assert not wave[-first:].any()
    paths = prepare.join_takes(random.Random(0), [["a"]], (0.1, 0.1), lambda p: one)
    assert len(paths) == 2 * 1600 + 160  # load() turns the chosen take into a wave


def test_large_grammar_speaks_only_the_engines_asked_for(tmp_path):
    large = load_recipe("commands", "large_grammar")
    grammar = load_grammar(large.GRAMMAR)
    with pytest.raises(SystemExit, match="no voice of nobody-tts is installed"):
        large.plan(grammar, 2, 0, 0, tmp_path / "none.gz", engines=("nobody-tts",))
