"""The demo's grammar boxes: the File tab matches an upload to the typed grammar,
the Live tab's finals become grammar matches, and a bad grammar is a message."""

import gradio as gr
import numpy as np
import pytest
from conftest import DATA, KATHLEEN
from test_demo import browser_chunks, stream

import asr
from asr import app as demo

DIGITS = "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine"


@pytest.fixture(scope="module")
def cache():
    return demo.ModelCache([str(demo.MODELS_DIR / "default.pt")])


def test_file_tab_matches_the_grammar_box(cache):
    transcribe = demo.make_transcriber(cache)
    box = f"{DIGITS}\n[unk]"
    text, rows, files, _ = transcribe(
        str(DATA / "6_lucas_0.wav"), None, "greedy", "", box
    )
    assert text.startswith("six (confidence ") and rows == [] and len(files) == 3
    assert "six" in open(files[0]).read()  # the SRT holds the matched sentence
    text, *_ = transcribe(
        str(KATHLEEN[0]), None, demo.DECODERS[0], "", f"{DIGITS}\n[unk]"
    )
    assert text.startswith("[unk] (out of grammar, confidence ")
    free, *_ = transcribe(str(DATA / "6_lucas_0.wav"), None, demo.DECODERS[0], "", "  ")
    assert "confidence" not in free  # an empty box transcribes freely


def test_file_tab_reports_a_bad_grammar(cache):
    transcribe = demo.make_transcriber(cache)
    with pytest.raises(gr.Error, match="grammar box:2: undefined rule <name>"):
        transcribe(
            str(DATA / "6_lucas_0.wav"), None, demo.DECODERS[0], "", "hi\n<name>"
        )


def test_live_tab_finals_are_matches(cache):
    silence = np.zeros(asr.SAMPLE_RATE, np.float32)
    wave = np.concatenate([silence, asr.load_audio(DATA / "2_jackson_1.wav"), silence,
                           asr.load_audio(DATA / "4_theo_2.wav"), silence])  # fmt: skip
    state, partial, *_ = demo.live_chunk(None, None, None, cache, 60, "hi\n<nope>")
    assert "undefined rule <nope>" in partial
    state, *_ = demo.live_chunk(state, None, None, cache, 60, DIGITS)
    shown = stream(state, browser_chunks(wave))
    finals = shown[-1][1].splitlines()
    assert [f.split(" (")[0] for f in finals] == ["two", "four"]
    assert all("confidence" in f for f in finals)
