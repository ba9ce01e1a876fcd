"""The on-disk LM cache (asr.decoding.lmcache): what a later process reuses must
decode exactly as a fresh read does, and a stale or damaged cache must never be
used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import DATA, DIGITS, DIGITS_MODEL, ROOT

import asr
from asr.decoding import lmcache, wordlm
from asr.decoding.beam import BeamSearchDecoder, DecodeConfig, clear_lm_cache

DIGITS_LM = ROOT / "data" / "models" / "digits.arpa"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder (with build_binary linked in where installed)."""
    tool = lmcache.build_binary_tool()
    monkeypatch.setenv("ASR_CACHE", str(tmp_path / "cache"))
    if tool:
        (tmp_path / "cache" / "bin").mkdir(parents=True)
        (tmp_path / "cache" / "bin" / "build_binary").symlink_to(tool)
    clear_lm_cache()
    yield tmp_path / "cache"
    clear_lm_cache()


@pytest.fixture(scope="module")
def posteriors():
    model = asr.load_model(DIGITS_MODEL)
    out = []
    for name in DIGITS:
        log_probs, lens = model.posteriors([asr.load_audio(DATA / name)])
        out.append(log_probs[0, : int(lens[0])].numpy())
    return model.tokenizer.vocab, out


BEAM = DecodeConfig(beam_size=20)


def decode(vocab, posteriors, lm, config=BEAM):
    clear_lm_cache()  # read the LM again, as a new process would
    decoder = BeamSearchDecoder(vocab, lm, config)
    return [decoder(p[None], np.array([len(p)]))[0] for p in posteriors]


def test_cached_lexicon_decodes_as_a_fresh_read(cache, posteriors, tmp_path):
    vocab, lp = posteriors
    lm = tmp_path / "digits.arpa"  # a copy: the cache has no binary for it yet
    shutil.copy(DIGITS_LM, lm)
    hot = DecodeConfig(beam_size=20, hotwords=(("seven eight", 5.0), ("oh", 2.0)))
    first = decode(vocab, lp, lm), decode(vocab, lp, lm, hot)
    assert lmcache.lexicon_file(lm, vocab).is_file()
    assert lmcache.read_lexicon(lm, vocab) is not None
    again = decode(vocab, lp, lm), decode(vocab, lp, lm, hot)
    assert again == first
    assert first[0] == list(DIGITS.values())


def test_a_changed_lm_is_read_again(cache, posteriors, tmp_path):
    vocab, _ = posteriors
    lm = tmp_path / "digits.arpa"
    shutil.copy(DIGITS_LM, lm)
    wordlm.load_lm(lm, vocab)
    before = lmcache.lexicon_file(lm, vocab)
    lm.write_text(lm.read_text().replace("eight", "eighty"))
    os.utime(lm, ns=(0, lm.stat().st_mtime_ns + 10**9))
    clear_lm_cache()
    loaded = wordlm.load_lm(lm, vocab)
    assert lmcache.lexicon_file(lm, vocab) != before
    assert loaded.words.contains("eighty") and not loaded.words.contains("eight")


def test_a_damaged_cache_is_ignored(cache, posteriors, tmp_path):
    vocab, lp = posteriors
    lm = tmp_path / "digits.arpa"
    shutil.copy(DIGITS_LM, lm)
    expected = decode(vocab, lp, lm)
    lmcache.lexicon_file(lm, vocab).write_bytes(b"PK\x03\x04 not a zip")
    assert lmcache.read_lexicon(lm, vocab) is None
    assert decode(vocab, lp, lm) == expected


def test_an_unwritable_cache_costs_only_speed(tmp_path, monkeypatch, posteriors):
    vocab, lp = posteriors
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("ASR_CACHE", str(blocker))
    assert decode(vocab, lp, DIGITS_LM)[0] == "two"


needs_tool = pytest.mark.skipif(
    lmcache.build_binary_tool() is None,
    reason="KenLM's build_binary is not compiled (make kenlm)",
)


@needs_tool
def test_binary_lm_decodes_as_the_arpa(cache, posteriors, tmp_path):
    vocab, lp = posteriors
    lm = tmp_path / "digits.arpa"
    shutil.copy(DIGITS_LM, lm)
    assert lmcache.binary_for(lm, build=False) is None
    text = decode(vocab, lp, lm)
    lmcache.lexicon_file(lm, vocab).unlink()  # score the words with the binary too
    binary = lmcache.binary_for(lm, build=False)
    assert binary is not None and binary.read_bytes()[:4] != b"\\dat"
    assert decode(vocab, lp, lm) == text == list(DIGITS.values())


@needs_tool
def test_lm_binary_command(cache, tmp_path):
    lm = tmp_path / "digits.arpa"
    shutil.copy(DIGITS_LM, lm)
    env = {**os.environ, "ASR_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "asr", "lm", "binary", str(lm)]
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert lmcache.binary_file(lm).is_file()
    bad = subprocess.run([*run[:-1], str(DATA / "2_jackson_1.wav")], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr
