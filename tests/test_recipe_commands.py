"""recipes/commands: how tune_unk.py chooses the [unk] settings."""

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
