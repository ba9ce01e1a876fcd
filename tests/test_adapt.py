"""asr adapt: the plan keeps held-out voices out of training; a smoke run on a tiny
grammar and a tiny model writes a model folder that loads and decodes."""

import json
import random
import shutil

import pytest

import asr
from asr.decoding.grammar import parse_grammar
from asr.synthesis.adapt import AdaptConfig, adapt, build_parser, run
from asr.synthesis.takes import domain_sentences, plan_takes

VOICES = ("espeak-ng:en-US", "espeak-ng:en-GB-x-rp", "flite:kal", "flite:slt")


def test_plan_spreads_sentences_and_holds_voices_out(tmp_path):
    grammar = parse_grammar("turn (on | off) the light\nsnowboy\n")
    cfg = AdaptConfig(utterances=40, heldout_voices=1, heldout_sentences=2)
    others = [f"other sentence number {i}" for i in range(100)]
    training, heldout = plan_takes(grammar, list(VOICES), cfg, tmp_path, others)
    held = {t.voice for t in heldout}
    assert len(held) == 1 and not held & {t.voice for t in training}
    assert len(training) == 40 and len(heldout) == 2
    assert {t.text for t in heldout} <= {s.text for s in grammar.sentences}
    texts = [t.text for t in training]
    assert sum(t.startswith("other") for t in texts) == 10  # other_fraction 0.25
    assert {texts.count(s.text) for s in grammar.sentences} == {10}
    assert len({t.path for t in training + heldout}) == 42


def test_a_large_grammar_is_sampled_not_listed():
    digit = "(zero | one | two | three | four | five | six | seven | eight | nine)"
    grammar = parse_grammar(f"d = {digit}\n[Code]\n" + "<d> " * 9 + "\n")  # 10^9
    texts = domain_sentences(grammar, 300, random.Random(0))
    assert len(texts) == 300 and len(set(texts)) == 300  # all differ: drawn, not listed
    assert all(grammar.find(t) is not None for t in texts)
    firsts = [t.split()[0] for t in texts]
    assert all(15 <= firsts.count(w) <= 50 for w in digit[1:-1].split(" | "))


@pytest.mark.skipif(not shutil.which("espeak-ng") or not shutil.which("flite"),
                    reason="needs espeak-ng and flite")  # fmt: skip
def test_adapt_smoke_run_writes_a_loadable_model_folder(tmp_path, tiny_checkpoint):
    grammar = tmp_path / "lights.ini"
    grammar.write_text("[Light]\nturn (on | off){state} the $room light\nsnowboy\n"
                       "[unk]\n")  # fmt: skip
    (tmp_path / "slots").mkdir()
    (tmp_path / "slots" / "room").write_text("kitchen\nhall\n")
    out = tmp_path / "models" / "lights"
    cfg = AdaptConfig(grammar=str(grammar), base=str(tiny_checkpoint), out=str(out),
                      utterances=6, heldout_voices=1, heldout_sentences=2, epochs=1,
                      jobs=1, voices=VOICES)  # fmt: skip
    report = adapt(cfg)
    for name in ("lights.pt", "lights.decoder.json", "lights.arpa", "lights.grammar",
                 "lights.hotwords.txt", "adapt.json"):  # fmt: skip
        assert (out / name).is_file(), name
    assert "snowboy:3" in (out / "lights.hotwords.txt").read_text()
    saved = json.loads((out / "adapt.json").read_text())
    assert saved["training_utterances"] == report["training_utterances"] == 6
    assert set(saved["before"]) == {"utterances", "sentence_accuracy", "greedy_wer"}
    model = asr.load_model(out)  # the folder, like any model
    take = next((out / "work" / "heldout").glob("000000-*.flac"))
    result = model.transcribe(take, grammar=out / "lights.grammar")
    assert result.text in {  # the grammar reads beside its slots/ copy
        *(
            f"turn {s} the {r} light"
            for s in ("on", "off")
            for r in ("kitchen", "hall")
        ),
        "snowboy",
        "[unk]",
    }
    decoder = model.beam_decoder()  # its decoder.json names the domain LM beside it
    assert decoder.lm.endswith("lights.arpa")


def test_a_bad_grammar_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("hello\nsay <nobody>\n")
    args = build_parser().parse_args(
        ["--grammar", str(bad), "--out", str(tmp_path / "m")]
    )
    assert run(args) == 2
    assert capsys.readouterr().err.strip() == f"error: {bad}:2: undefined rule <nobody>"
