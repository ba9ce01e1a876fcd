"""The PocketSphinx peer (asr.inference.peers) that benchmarks and recipes compare
against: free speech with its LM, a JSGF file, and our grammar as its FSG."""

import sys

import pytest
from conftest import ROOT

from asr.audio.io import load_audio
from asr.decoding.grammar import load_grammar

pytest.importorskip("pocketsphinx")
from asr.inference.peers import PocketSphinx  # noqa: E402

SAMPLE = ROOT / "data" / "samples" / "3_jackson_0.wav"
DIGITS = ROOT / "recipes" / "commands" / "digits.jsgf"


@pytest.fixture(scope="module")
def peer():
    return PocketSphinx({"snowboy": "S N OW B OY"})


def test_free_speech_and_grammars_search_the_same_audio(peer, tmp_path):
    wave = load_audio(SAMPLE)
    assert isinstance(peer.transcribe(wave), str)  # its LM: any words, or none
    peer.add_grammar("jsgf", DIGITS)  # its own JSGF reader
    peer.add_grammar("fsg", load_grammar(DIGITS))  # our grammar as its FSG
    ini = tmp_path / "wake.ini"
    ini.write_text("[wake]\nsnowboy\nhey snowboy\n")
    peer.add_grammar("ini", ini)  # sentences.ini: only as FSG
    grammar = load_grammar(DIGITS)
    for search in ("jsgf", "fsg"):
        heard = peer.transcribe(wave, search=search)
        assert heard == " ".join(heard.split())
        assert grammar.find(heard) is not None and "three" in heard.split()
    assert peer.transcribe(wave, search="ini") in ("", "snowboy", "hey snowboy")


def test_without_pocketsphinx_it_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    with pytest.raises(ImportError, match="pip install pocketsphinx"):
        PocketSphinx()
