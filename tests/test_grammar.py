"""Grammars: parsing and expansion of phrase lists, templates and JSGF; the errors
(file and line named); decoding constrained to a grammar on real digit recordings;
out-of-grammar rejection; the CLI, the API and the streaming recogniser."""

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import DATA, DIGITS, KATHLEEN, ROOT

import asr
from asr.core.text import CharTokenizer
from asr.decoding.grammar import (
    GrammarError,
    as_grammar,
    load_grammar,
    parse_grammar,
    to_jsgf,
)
from asr.decoding.match import check_spelling, sentence_scores

DEFAULT_MODEL = ROOT / "data" / "models" / "default.pt"
DIGIT_LINES = "zero one two three four five six seven eight nine".split()
SAMPLES = sorted((ROOT / "data" / "samples").glob("*.wav"))  # 0 1 3 5 7 9, one take


def texts(grammar) -> list[str]:
    return [s.text for s in grammar.sentences]


# -- parsing and expansion ----------------------------------------------------------


def test_phrase_list_one_sentence_a_line_normalised_and_deduplicated():
    g = parse_grammar("Turn on the light\n\n# a comment\nturn OFF the light\n"
                      "turn on the light\nset 5 timers\n")  # fmt: skip
    assert texts(g) == ["turn on the light", "turn off the light", "set five timers"]
    assert not g.allow_unk and [s.line for s in g.sentences] == [1, 4, 6]


def test_vosk_json_list_with_unk():
    g = as_grammar('["turn on the light", "turn off the light", "[unk]"]')
    assert texts(g) == ["turn on the light", "turn off the light"]
    assert g.allow_unk


def test_templates_alternatives_optionals_rules_slots_and_intents():
    g = parse_grammar(
        "[Order]\n"
        "size = (small | large){size}\n"
        "i want a <size> (latte | tea:chai){drink} [please]\n"
        "[Timer]\n"
        "set a timer for (one:1 | two:2){minutes} minutes\n"
        "[unk]\n",
        "order.ini",
    )
    assert len(g.sentences) == 2 * 2 * 2 + 2
    first = g.sentences[0]
    assert first.text == "i want a small latte"
    assert dict(first.slots) == {"size": "small", "drink": "latte"}
    assert first.intent == "Order" and first.line == 3
    chai = next(s for s in g.sentences if s.text == "i want a large tea please")
    assert dict(chai.slots) == {"size": "large", "drink": "chai"}
    timer = next(s for s in g.sentences if s.text == "set a timer for two minutes")
    assert dict(timer.slots) == {"minutes": "2"} and timer.intent == "Timer"
    assert g.allow_unk


def test_slot_lists_from_a_folder_and_from_the_api(tmp_path):
    (tmp_path / "slots").mkdir()
    (tmp_path / "slots" / "colour").write_text("red\ndark blue\n")
    (tmp_path / "g.ini").write_text("paint it $colour\nmake it $size\n")
    g = load_grammar(tmp_path / "g.ini", slots={"size": ["big", "small"]})
    assert texts(g) == [
        "paint it red",
        "paint it dark blue",
        "make it big",
        "make it small",
    ]
    assert dict(g.sentences[1].slots) == {"colour": "dark blue"}


def test_jsgf_rules_weights_tags_comments_and_public_rules():
    g = parse_grammar(
        "#JSGF V1.0;\ngrammar lights;\n/* a block\n comment */\n"
        "<state> = /3/ on | /1/ off;   // weights are read and ignored\n"
        "public <light> = turn <state> {state} [the] light;\n"
        "public <count> = ( one | two ) {n=number};\n",
        "lights.jsgf",
    )
    assert texts(g) == ["turn on light", "turn on the light", "turn off light",
                        "turn off the light", "one", "two"]  # fmt: skip
    assert dict(g.sentences[2].slots) == {"state": "off"}
    assert dict(g.sentences[5].slots) == {"n": "number"}
    assert g.sentences[0].intent == "light" and g.sentences[0].line == 6


def test_to_jsgf_round_trips():
    g = parse_grammar("turn (on | off) the light\nsnowboy")
    assert texts(parse_grammar(to_jsgf(g))) == texts(g)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "g.txt:1: empty grammar"),
        ("# only a comment\n\n", "g.txt:1: empty grammar"),
        ("hello\nsay <name>\n", "g.txt:2: undefined rule <name>"),
        ("a = b <c>\nc = d <a>\nsay <a>", "g.txt:2: recursive rule: <a> -> <c> -> <a>"),
        ("hello\nplay $genre", "g.txt:2: undefined slot list $genre"),
        ("hello\n(a | b\n", "g.txt:2: '(' without a matching ')'"),
        ("hello\nsay \u6771\u4eac\n", "g.txt:2: word '\u6771\u4eac' cannot be spelled"),
        (
            "a = <b>\n" + "b = ((((x))))\n" + "say " + "(" * 101 + "x" + ")" * 101,
            "g.txt:3: brackets nested deeper than 100",
        ),
        ("say " + "x" * 101, "g.txt:1: a word of 101 letters; at most 100"),
        ("#JSGF V1.0;\ngrammar g;\n<a> = b;\n", "g.txt: no public rule"),
        ("#JSGF V1.0;\ngrammar g;\n\npublic <a> = b <nope>;\n", "g.txt:4: undefined"),
        ('["a", 3]', "g.txt:1: a JSON grammar must be a list of strings"),
    ],
)
def test_bad_grammars_name_file_and_line(text, message):
    with pytest.raises(GrammarError, match=re.escape(message)):
        parse_grammar(text, "g.txt")


def test_a_huge_grammar_compiles_but_is_never_listed():
    rule = "d = (" + " | ".join(f"w{i}" for i in range(100)) + ")\n"  # "w1" -> "w one"
    g = parse_grammar(rule + "<d> <d> <d> <d> <d> <d>\n")  # 10^12 sentences
    assert g.count == 100**6
    with pytest.raises(GrammarError, match="more than 10000 to list"):
        g.sentences  # noqa: B018


def test_inlining_rules_is_bounded_by_the_texts_length():
    rules = "a0 = (x | y)\n" + "".join(
        f"a{i} = <a{i - 1}> <a{i - 1}>\n" for i in range(1, 40)
    )
    with pytest.raises(GrammarError, match="graph passes 20000 arcs"):
        parse_grammar(rules + "say <a39>\n")  # 2^39 copies if inlined


def test_a_character_the_model_cannot_output_is_refused():
    g = parse_grammar("zero\nhello\n", "g.txt")
    with pytest.raises(GrammarError, match="g.txt:2: the model cannot spell 'l'"):
        check_spelling(g, list(CharTokenizer().vocab[:1]) + list(" 'aehiouzr"))


# -- scoring ------------------------------------------------------------------------


def test_sentence_scores_equal_ctc_loss_and_prefer_the_spoken_text():
    tok = CharTokenizer()
    torch.manual_seed(0)
    emissions = torch.randn(30, len(tok)).log_softmax(-1)
    path = [0, 0] + [i for c in "abc" for i in (tok.ids[c], 0)] + [0] * 22
    emissions[torch.arange(30), torch.tensor(path)] += 8  # the audio "says" abc
    emissions = emissions.log_softmax(-1)
    targets = torch.tensor([tok.encode("abc"), tok.encode("abd")])
    scores = sentence_scores(emissions, targets, torch.tensor([3, 3]))
    reference = -torch.nn.functional.ctc_loss(
        emissions[:, None], targets[:1], torch.tensor([30]), torch.tensor([3]),
        reduction="sum",
    )  # fmt: skip
    assert abs(scores[0] - float(reference)) < 1e-4
    assert scores[0] > scores[1] + 5


def test_numpy_ctc_forward_equals_torchs_ctc_loss():
    """The numpy scorer (no torch at run time) against torch's ctc_loss: repeated
    letters (which need a blank between them), one letter, the empty text, texts of
    mixed lengths in one chunk, and a text too long for the frames (-inf)."""
    tok = CharTokenizer()
    rng = np.random.default_rng(3)
    emissions = torch.from_numpy(rng.normal(size=(40, len(tok))).astype(np.float32))
    emissions = emissions.log_softmax(-1)
    texts = ["hello", "a", "aab", "zzzz zz", "", "ab" * 12]  # 24 letters fit 40 frames
    texts.append("x" * 30)  # 30 repeats need 59 frames: impossible in 40
    ids = [tok.encode(t) for t in texts]
    scores = sentence_scores(emissions, torch.tensor(sum(ids, [])),
                             torch.tensor([len(i) for i in ids]))  # fmt: skip
    for text, got, labels in zip(texts, scores, ids, strict=True):
        want = -torch.nn.functional.ctc_loss(
            emissions[:, None], torch.tensor([labels or [0]]), torch.tensor([40]),
            torch.tensor([len(labels)]), reduction="sum",
        )  # fmt: skip
        if math.isinf(want):
            assert got == -math.inf, text
        else:
            assert abs(got - float(want)) < 1e-3 * max(1.0, abs(float(want))), text


# -- decoding real speech -----------------------------------------------------------


@pytest.fixture(scope="module")
def english():
    if not DEFAULT_MODEL.exists():
        pytest.skip("no default model")
    return asr.load_model(DEFAULT_MODEL)


def test_digit_recordings_match_their_digit(english):
    grammar = parse_grammar("\n".join(DIGIT_LINES))
    paths = [DATA / n for n in DIGITS] + SAMPLES
    for path in paths:
        result = english.transcribe(path, grammar=grammar)
        assert result.text == DIGIT_LINES[int(path.name[0])], path
        assert 0.5 < result.confidence <= 1.0


def test_slots_of_a_matched_sentence(english):
    grammar = parse_grammar(
        "(zero:0 | one:1 | three:3 | five:5 | seven:7 | nine:9){digit}"
    )
    result = english.transcribe(SAMPLES[2], grammar=grammar)  # 3_jackson_0.wav
    assert (result.text, result.slots) == ("three", {"digit": "3"})


def test_out_of_grammar_speech_is_rejected_only_with_unk(english):
    wave = asr.load_audio(KATHLEEN[0])  # "Author of the danger trail, Philip Steels"
    phrases = [*DIGIT_LINES, "[unk]"]
    rejected = english.transcribe(wave, grammar=phrases)
    assert rejected.is_unk and rejected.text == "[unk]" and rejected.confidence > 0.5
    assert rejected.sentence in DIGIT_LINES
    forced = english.transcribe(wave, grammar=DIGIT_LINES)
    assert forced.text in DIGIT_LINES and forced.margin < -50  # far from the audio
    in_grammar = english.transcribe(SAMPLES[0], grammar=phrases)
    assert in_grammar.text == "zero"  # unk allowed, yet the digit is kept


def test_streaming_finals_carry_matches(english):
    silence = np.zeros(16000, np.float32)
    wave = np.concatenate([silence, asr.load_audio(SAMPLES[1]), silence,
                           asr.load_audio(SAMPLES[3]), silence])  # fmt: skip
    recognizer = asr.StreamingRecognizer(english, grammar=DIGIT_LINES)
    events = []
    for start in range(0, len(wave), 8000):
        events += recognizer.accept(wave[start : start + 8000], 16000)
    events += recognizer.flush()
    finals = [e for e in events if isinstance(e, asr.Final)]
    assert [f.text for f in finals] == ["one", "five"]
    assert all(f.match is not None and f.match.confidence > 0.5 for f in finals)


# -- asr transcribe --grammar -------------------------------------------------------


def test_cli_prints_sentence_and_json_and_refuses_bad_grammars(tmp_path, english):
    grammar = tmp_path / "digits.txt"
    grammar.write_text("\n".join([*DIGIT_LINES, "[unk]"]) + "\n")
    cmd = [sys.executable, "-m", "asr", "transcribe", "--model", str(DEFAULT_MODEL)]
    files = [str(SAMPLES[0]), str(KATHLEEN[0]), str(tmp_path / "no.wav")]
    run = subprocess.run([*cmd, *files, "--grammar", str(grammar)],
                         capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert run.returncode == 1  # the missing file
    lines = [line.split("\t") for line in run.stdout.splitlines()]
    assert [(p.endswith(".wav"), t) for p, t, _ in lines[:1]] == [(True, "zero")]
    assert lines[1][1] == "[unk]" and json.loads(lines[1][2])["sentence"] in DIGIT_LINES
    assert "no.wav" in run.stderr and "Traceback" not in run.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\nsay <name>\n")
    run = subprocess.run([*cmd, str(SAMPLES[0]), "--grammar", str(bad)],
                         capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip() == f"error: {bad}:2: undefined rule <name>"
