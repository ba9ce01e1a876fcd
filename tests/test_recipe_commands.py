"""recipes/commands: how tune_unk.py chooses the [unk] settings; the sets and
grammars prepare.py and evaluate.py use."""

from conftest import load_recipe


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
    from asr.decoding.grammar import load_grammar

    evaluate = load_recipe("commands", "evaluate")
    assert {grammar for _, grammar, _ in evaluate.SETS} == set(evaluate.GRAMMARS)
    words = load_grammar(evaluate.GRAMMARS["speech_commands"]).sentences
    assert len(words) == 35 and all(dict(s.slots) == {"word": s.text} for s in words)


def test_robot_sentences_use_only_the_speakers_words_and_parse():
    """prepare.py joins a speaker's own takes: every sentence it plans for a speaker
    is in robot.ini (a large grammar, scored with slots) and uses only words that
    speaker recorded; a speaker without a direction or digit still gets commands."""
    import random

    from asr.decoding.grammar import load_grammar

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
