"""What a user gets without flags: LM beam search when the model ships decoder
settings (``<name>.decoder.json``), greedy when it does not, ``--greedy`` /
``decoder="greedy"`` to opt out; the LM read once per process; the CLI's
conventions (--version, --output-format all, --quiet/--verbose, JSON words)."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, DIGITS, digit_speech

import asr
from asr import app as demo
from asr.cli import main
from asr.core.text import CharTokenizer
from asr.decoding import wordlm
from asr.decoding.arpa import write_arpa
from asr.decoding.beam import BeamSearchDecoder, DecodeConfig, clear_lm_cache
from asr.decoding.lm import LMConfig, estimate
from asr.inference.streaming import Final, Partial, StreamingRecognizer

WAV = str(DATA / "2_jackson_1.wav")
DIGIT_WORDS = "zero one two three four five six seven eight nine".split()


@pytest.fixture
def digits_lm(tmp_path):
    path = tmp_path / "digits.arpa"
    sentences = [" ".join(DIGIT_WORDS[i:] + DIGIT_WORDS[:i]) for i in range(10)]
    write_arpa(path, estimate(sentences, LMConfig(order=2, min_counts=(1, 1, 1))))
    return path


@pytest.fixture
def shipped(tiny_checkpoint, digits_lm):
    """The tiny checkpoint with decoder settings beside it, as a shipped model has."""
    settings = {
        "beam_size": 8,
        "lm_weight": 1.0,
        "word_score": 0.0,
        "lm": digits_lm.name,
    }
    tiny_checkpoint.with_name("tiny.decoder.json").write_text(json.dumps(settings))
    return tiny_checkpoint


@pytest.fixture
def bare(tiny_checkpoint, tmp_path):
    """The same kind of checkpoint without decoder settings."""
    path = tmp_path / "bare" / "bare.pt"
    path.parent.mkdir()
    shutil.copy(tiny_checkpoint, path)
    return path


@pytest.fixture
def beam_calls(monkeypatch):
    """Every BeamSearchDecoder call, recorded (the decoding still happens)."""
    calls = []
    original = BeamSearchDecoder.__call__

    def spy(self, log_probs, out_lens):
        calls.append(self)
        return original(self, log_probs, out_lens)

    monkeypatch.setattr(BeamSearchDecoder, "__call__", spy)
    return calls


class Tagged:
    """A stand-in decoder whose every transcript says which decoder made it."""

    def __call__(self, log_probs, out_lens):
        return ["tagged"] * len(log_probs)


# -- the default decoding path -------------------------------------------------------


def test_model_with_decoder_settings_gets_lm_beam_search(shipped, beam_calls):
    model = asr.load_model(shipped)
    assert isinstance(model.default_decoder, BeamSearchDecoder)
    assert model.default_decoder is model.default_decoder  # built once, then shared
    assert model.default_decoder.config.beam_size == 8  # the shipped settings
    text = model.transcribe(WAV)
    assert beam_calls == [model.default_decoder]
    assert set(text.split()) <= set(DIGIT_WORDS)  # only LM words come out
    model.transcribe_words(WAV)
    list(model.transcribe_segments(WAV))
    assert len(beam_calls) == 3


def test_greedy_opts_out(shipped, beam_calls):
    model = asr.load_model(shipped)
    greedy = model.transcribe(WAV, decoder="greedy")
    assert beam_calls == []
    assert model.transcribe(WAV, decoder=None) == greedy  # None still means greedy
    assert model.transcribe_batch([asr.load_audio(WAV)], decoder="greedy") == [greedy]
    assert beam_calls == []
    with pytest.raises(ValueError, match="unknown decoder"):
        model.transcribe(WAV, decoder="viterbi")


def test_model_without_decoder_settings_decodes_greedily(bare, beam_calls):
    model = asr.load_model(bare)
    assert model.decoder_config is None and model.default_decoder is None
    assert model.transcribe(WAV) == model.transcribe(WAV, decoder="greedy")
    assert beam_calls == []


def test_streaming_finals_use_the_default_decoder_and_partials_stay_greedy(bare):
    model = asr.load_model(bare)
    model.decoder_config, model._default_decoder = bare, Tagged()  # as if shipped
    wave, _, _, _ = digit_speech(["2_jackson_1.wav", "4_theo_2.wav"])
    recognizer = StreamingRecognizer(model, partial_every_s=0.25)
    events = []
    for i in range(0, len(wave), 8000):
        events += recognizer.accept(wave[i : i + 8000], asr.SAMPLE_RATE)
    events += recognizer.flush()
    finals = [e for e in events if isinstance(e, Final)]
    partials = [e for e in events if isinstance(e, Partial)]
    assert finals and all(e.text == "tagged" for e in finals)
    assert partials and all(e.text != "tagged" for e in partials)
    greedy = StreamingRecognizer(model, decoder="greedy")
    events = greedy.accept(wave, asr.SAMPLE_RATE) + greedy.flush()
    assert all(e.text != "tagged" for e in events)


def test_demo_decodes_with_the_lm_by_default(bare, tmp_path):
    model = asr.load_model(bare)
    model.decoder_config, model._default_decoder = bare, Tagged()
    assert demo.DecodeChoice().method == demo.DECODERS[0] == "LM beam search"
    wave = asr.load_audio(WAV)
    segments = demo.decode_segments(model, wave, demo.DecodeChoice())
    assert [s.text for s in segments if s.text] == ["tagged"]
    greedy = demo.decode_segments(model, wave, demo.DecodeChoice("greedy"))
    assert all(s.text != "tagged" for s in greedy)
    session = demo.LiveSession(model)
    session.on_chunk((16000, (wave * 32767).astype(np.int16)))
    assert session.stop()[1] == "tagged"  # the live final is the LM result


def test_demo_reads_the_lm_in_the_background(shipped, kenlm_loads):
    model = demo.ModelCache([str(shipped)]).get(None)  # returns before the LM is read
    for _ in range(300):
        if model._default_decoder is not None:
            break
        time.sleep(0.1)
    assert isinstance(model._default_decoder, BeamSearchDecoder)
    assert len(kenlm_loads) == 1 and model.default_decoder is model._default_decoder


@pytest.mark.parametrize("command", ["transcribe", "evaluate"])
def test_cli_defaults_to_beam_and_greedy_wins(command, shipped, tmp_path, beam_calls):
    target = [WAV]
    if command == "evaluate":
        manifest = tmp_path / "m.jsonl"
        entry = {"audio": WAV, "text": DIGITS["2_jackson_1.wav"], "duration": 0.6}
        manifest.write_text(json.dumps(entry))
        target = [str(manifest)]
    assert main([command, "--model", str(shipped), *target]) == 0
    assert len(beam_calls) == 1 and beam_calls[0].config.beam_size == 8
    beam_calls.clear()
    flags = ["--greedy", "--beam", "4", "--lm-weight", "2"]  # --greedy wins
    assert main([command, "--model", str(shipped), *flags, *target]) == 0
    assert beam_calls == []
    assert main([command, "--model", str(shipped), "--beam", "4", *target]) == 0
    assert beam_calls[0].config.beam_size == 4  # a flag changes the shipped settings
    assert beam_calls[0].config.lm_weight == 1.0 and beam_calls[0].loaded is not None


def test_a_grammar_wins_over_the_default_decoder(shipped, beam_calls, kenlm_loads):
    model = asr.load_model(shipped)  # ships an LM, so "auto" would mean beam search
    match = model.transcribe(WAV, grammar=DIGIT_WORDS)
    assert isinstance(match, asr.Match) and match.text in DIGIT_WORDS
    wave, _, _, _ = digit_speech(["2_jackson_1.wav"])
    recognizer = StreamingRecognizer(model, grammar=DIGIT_WORDS, decoder="beam")
    finals = [e for e in recognizer.accept(wave, 16000) + recognizer.flush()
              if isinstance(e, Final)]  # fmt: skip
    assert finals and all(f.match is not None for f in finals)
    assert all(f.text in DIGIT_WORDS for f in finals)
    grammar = shipped.with_name("digits.txt")
    grammar.write_text("\n".join(DIGIT_WORDS) + "\n")
    assert main(["transcribe", "--model", str(shipped), "--grammar", str(grammar),
                 WAV]) == 0  # fmt: skip
    assert beam_calls == [] and kenlm_loads == []  # the LM was never even read


# -- the LM: loaded once per process ---------------------------------------------------


@pytest.fixture
def kenlm_loads(monkeypatch):
    """How many times KenLM reads a file, from an empty LM cache."""
    loads = []
    original = wordlm._KenLM

    def counting(path, words):
        loads.append(path)
        return original(path, words)

    monkeypatch.setattr(wordlm, "_KenLM", counting)
    clear_lm_cache()
    yield loads
    clear_lm_cache()


def test_lm_is_read_once_for_other_weights_and_hotwords(digits_lm, kenlm_loads):
    vocab = CharTokenizer().vocab
    first = BeamSearchDecoder(vocab, digits_lm, DecodeConfig(beam_size=5))
    other = BeamSearchDecoder(vocab, digits_lm, DecodeConfig(hotwords=(("nine", 2.0),)))
    oov = BeamSearchDecoder(vocab, digits_lm, DecodeConfig(hotwords=(("zorg", 9.0),)))
    first.configure(DecodeConfig(lm_weight=2.0, word_score=1.0))
    first.configure(DecodeConfig(hotwords=(("seven eight", 3.0),)))
    # one read: the ARPA itself, or the binary the LM cache built from it
    assert len(kenlm_loads) == 1
    assert Path(kenlm_loads[0]).name.startswith(digits_lm.name)
    assert first.loaded is other.loaded is oov.loaded  # one LM in memory
    # hotwords outside the LM reach the shared LM as <unk> and can still be output
    log_probs = torch_spelling("zorg")
    assert oov(*log_probs) == ["zorg"] and "zorg" not in other(*log_probs)[0]
    clear_lm_cache()
    BeamSearchDecoder(vocab, digits_lm)
    assert len(kenlm_loads) == 2  # a cleared cache reads the file again


def test_model_decoders_share_the_lm(shipped, kenlm_loads):
    model = asr.load_model(shipped)
    again = asr.load_model(shipped)  # a second copy of the model in the process
    decoders = [model.default_decoder, again.default_decoder,
                model.beam_decoder((("two", 2.0),)), model.beam_decoder()]  # fmt: skip
    assert len(kenlm_loads) == 1 and len({id(d.loaded) for d in decoders}) == 1


def torch_spelling(word: str):
    """(1, T, V) log posteriors that spell ``word`` confidently, blank between."""
    import torch

    tok = CharTokenizer()
    frames = []
    for c in word:
        frames += [tok.ids[c], 0]
    x = torch.full((1, len(frames), len(tok)), -8.0)
    for t, i in enumerate(frames):
        x[0, t, i] = 0.0
    return x.log_softmax(-1), torch.tensor([len(frames)])


# -- the command line's conventions -------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"asr {asr.__version__}"


def test_output_format_all_writes_every_format(bare, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["transcribe", "--model", str(bare), "--output-format", "all",
                 "--output-dir", str(out), WAV]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"2_jackson_1.{fmt}" for fmt in asr.FORMATS
    )


def test_quiet_and_verbose(shipped, capsys):
    assert main(["transcribe", "--model", str(shipped), "--quiet", WAV]) == 0
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) == 1
    assert main(["transcribe", "--model", str(shipped), "--verbose", WAV]) == 0
    err = capsys.readouterr().err
    assert "LM beam search over" in err and "beam 8" in err and "1 file," in err
    assert main(["transcribe", "--model", str(shipped), "-v", "--greedy", WAV]) == 0
    assert "decoding: greedy" in capsys.readouterr().err


def test_json_has_word_times_and_confidences(digits_checkpoint, capsys):
    args = ["--model", str(digits_checkpoint), "--output-format", "json"]
    assert main(["transcribe", *args, "--word-timestamps", WAV]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["text"] == "two"  # the digits model, with its LM
    (segment,) = [s for s in document["segments"] if s["text"]]
    (word,) = segment["words"]
    assert word["word"] == "two" and 0 < word["confidence"] <= 1
    assert segment["start"] <= word["start"] < word["end"] <= segment["end"] + 0.05


def test_missing_model_and_lm_are_one_line_errors(shipped, tmp_path, capsys):
    missing = tmp_path / "nope.pt"
    assert main(["transcribe", "--model", str(missing), WAV]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing) in err
    assert main(["transcribe", "--model", str(shipped), "--lm", "nope.arpa", WAV]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.arpa" in err
    settings = shipped.with_name("tiny.decoder.json")
    settings.write_text(json.dumps({"lm": "gone.arpa"}))  # a shipped LM that is missing
    assert main(["transcribe", "--model", str(shipped), WAV]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gone.arpa" in err and "--greedy" in err
