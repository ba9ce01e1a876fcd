import gzip
import re

import pytest

from asr.cli import main
from asr.decoding.arpa import ArpaError, read_arpa, write_arpa
from asr.decoding.lm import (
    LMConfig,
    estimate,
    kn_discounts,
    lexicon_lines,
    read_exclusions,
    score_texts,
)

PREDICTABLE = ["<unk>", "</s>", "a", "b"]  # every word but <s>


def lm_file(tmp_path, sentences, **config):
    path = tmp_path / "lm.arpa"
    write_arpa(path, estimate(sentences, LMConfig(**config)))
    return read_arpa(path)


def test_kn_discounts_hand_worked():
    # t = (10, 4, 2, 1): Y = 10 / 18; D1 = 1 - 2Y 4/10 = 5/9; D2 = 2 - 3Y 2/4 = 7/6;
    # D3+ = 3 - 4Y 1/2 = 17/9
    assert kn_discounts([10, 4, 2, 1]) == pytest.approx((5 / 9, 7 / 6, 17 / 9))
    assert kn_discounts([3, 1, 0, 0]) == (0.5, 1.0, 1.5)  # too few counts: the fallback


def test_bigram_kneser_ney_worked_example(tmp_path):
    # "<s> a b </s>" and "<s> b </s>"; counts of counts are too small, so
    # D = 0.5, 1, 1.5.
    # Unigram continuation counts: a 1 (<s>), b 2 (a, <s>), </s> 1 (b); total 4,
    # discounts 0.5 + 1 + 0.5 = 2, so gamma = 2/4 spread over 4 words:
    # P(a) = 0.5/4 + 0.125 = 0.25, P(b) = 1/4 + 0.125, P(</s>) = 0.25, P(<unk>) = 0.125.
    # After <s>: a and b once each, gamma = 1/2: P(a|<s>) = 0.5/2 + 0.5 * 0.25 = 0.375.
    # After a: b once, gamma = 1/2: P(b|a) = 0.5 + 0.5 * 0.375 = 0.6875.
    # After b: </s> twice, D2 = 1, gamma = 1/2: P(</s>|b) = 1/2 + 0.5 * 0.25 = 0.625.
    model = lm_file(tmp_path, ["a b", "b"], order=2, min_counts=(1, 1))
    expected = {
        ("a", ()): 0.25, ("b", ()): 0.375, ("</s>", ()): 0.25, ("<unk>", ()): 0.125,
        ("a", ("<s>",)): 0.375, ("b", ("<s>",)): 0.4375, ("</s>", ("<s>",)): 0.125,
        ("b", ("a",)): 0.6875, ("a", ("a",)): 0.125, ("</s>", ("b",)): 0.625,
    }  # fmt: skip
    for (word, context), p in expected.items():
        assert 10 ** model.log10_prob(word, context) == pytest.approx(p, abs=2e-5)


CORPUS = [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
    "the cat ate", "the dog ate the cat", "on the mat the cat sat", "a log",
] * 3 + ["the cat sat", "a mat and a log and a cat", "the end"]  # fmt: skip


@pytest.mark.parametrize("min_counts", [(1, 1, 1), (1, 2, 4), (2, 1, 3)])
def test_every_context_sums_to_one(tmp_path, min_counts):
    model = lm_file(tmp_path, CORPUS, order=3, min_counts=min_counts)
    vocab = [w for w in model.vocab if w != "<s>"]
    contexts = {ngram[:-1][-2:] for ngram in model.probs} | {("<s>",), ("zebra", "the")}
    for context in contexts:
        total = sum(10 ** model.log10_prob(w, context) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-4), context


def test_pruning_shrinks_and_keeps_contexts(tmp_path):
    full = lm_file(tmp_path, CORPUS, order=3, min_counts=(1, 1, 1))
    pruned = lm_file(tmp_path, CORPUS, order=3, min_counts=(1, 1, 4))
    trigrams = [g for g in pruned.probs if len(g) == 3]
    assert 0 < len(trigrams) < len([g for g in full.probs if len(g) == 3])
    # read_arpa already checks every context is listed; the suffixes are too
    assert all(g[1:] in pruned.probs for g in trigrams)


def test_vocab_cap_maps_rare_words_to_unk(tmp_path):
    model = lm_file(tmp_path, CORPUS, order=2, max_vocab=3, min_counts=(1, 1))
    assert set(model.vocab) == {"<unk>", "<s>", "</s>", "the", "cat", "a"}
    assert model.log10_prob("zebra") == model.log10_prob("<unk>") > -99


def test_arpa_round_trip_gzip(tmp_path):
    orders = estimate(CORPUS, LMConfig(order=3))
    path = tmp_path / "lm.arpa.gz"
    write_arpa(path, orders)
    with gzip.open(path, "rt") as f:
        assert f.readline() == "\\data\\\n"
    model = read_arpa(path)
    assert len(model.probs) == sum(len(o) for o in orders)
    words, logp, bow = orders[1][0]
    assert model.probs[tuple(words.split())] == pytest.approx(logp, abs=1e-5)
    assert model.backoffs.get(tuple(words.split()), 0.0) == pytest.approx(bow, abs=1e-5)


GOOD = (
    "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1\t<s>\t-0.3\n-1\ta\n\n"
    "\\2-grams:\n-0.5\t<s> a\n\n\\end\\\n"
)


@pytest.mark.parametrize(
    "text, message",
    [
        ("hello\n", "not an ARPA file (no \\data\\ header)"),  # no text echoed
        (GOOD.replace("ngram 2=1", "ngram 2=2"), "header says 2 2-grams, found 1"),
        (GOOD.replace("-0.5\t<s> a", "-0.5\tb a"), "context 'b' is missing"),
        (GOOD.replace("-1\ta", "x\ta"), "bad number"),
        (GOOD.replace("-0.5\t<s> a", "-0.5\t<s> a\t-1"), "needs 2 words"),
        (GOOD.replace("\\end\\\n", ""), "no \\end\\ line"),
        (GOOD.replace("\\2-grams:", "\\3-grams:"), "expected \\2-grams:"),
    ],
)
def test_malformed_arpa_is_a_clear_error(tmp_path, text, message):
    read_arpa(_write(tmp_path / "ok.arpa", GOOD))  # the unbroken file reads
    with pytest.raises(ArpaError, match=f"bad.arpa.*{_escape(message)}"):
        read_arpa(_write(tmp_path / "bad.arpa", text))


def _write(path, text):
    path.write_text(text)
    return path


def _escape(text):
    return re.escape(text)


def test_lexicon_spells_words_with_model_characters():
    lines, skipped = lexicon_lines(["<s>", "</s>", "<unk>", "don't", "cat", "café"], [
        "<blank>", " ", "'", *"abcdefghijklmnopqrstuvwxyz"])  # fmt: skip
    assert lines == ["don't\td o n ' t", "cat\tc a t"]
    assert skipped == ["café"]


def test_exclusions_from_manifest_and_text(tmp_path):
    manifest = _write(
        tmp_path / "m.jsonl", '{"audio": "x", "text": "Please call Stella."}\n'
    )
    text = _write(tmp_path / "t.txt", "The CAT sat.\n\n")
    assert read_exclusions([manifest, text]) == {"please call stella", "the cat sat"}


def test_lm_build_cli_excludes_and_writes(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt.gz"
    with gzip.open(corpus, "wt") as f:
        f.write("\n".join([*CORPUS, "Please call Stella."]) + "\n")
    exclude = _write(tmp_path / "test.txt", "please call stella\n")
    out = tmp_path / "out" / "lm.arpa.gz"
    code = main(["lm", "build", str(corpus), "-o", str(out), "--order", "3",
                 "--exclude", str(exclude)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    model = read_arpa(out)
    assert "stella" not in model.vocab and "cat" in model.vocab
    assert model.order == 3
    assert "1 excluded texts" in capsys.readouterr().out


def test_lm_build_cli_bad_input_exits_nonzero(tmp_path, capsys):
    assert (
        main(
            [
                "lm",
                "build",
                str(tmp_path / "missing.txt"),
                "-o",
                str(tmp_path / "x.arpa"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_lm_score_counts_oov_and_perplexity_by_hand(tmp_path, capsys):
    # a unigram model: P(a) = 0.5, P(b) = 0.25, P(</s>) = 0.125, P(<unk>) = 0.125
    arpa = _write(tmp_path / "u.arpa", "\\data\\\nngram 1=5\n\n\\1-grams:\n"
                  "-0.903090\t<unk>\n-99\t<s>\n-0.903090\t</s>\n"
                  "-0.301030\ta\n-0.602060\tb\n\n\\end\\\n")  # fmt: skip
    result = score_texts(read_arpa(arpa), ["a b", "a zebra"])
    assert (result.sentences, result.words, result.oov) == (2, 4, 1)
    # (0.5 * 0.25 * 0.125) * (0.5 * 0.125 * 0.125) over 6 predictions
    expected = (0.5 * 0.25 * 0.125 * 0.5 * 0.125 * 0.125) ** (-1 / 6)
    assert result.perplexity == pytest.approx(expected, rel=1e-5)
    manifest = _write(tmp_path / "dev.jsonl", '{"audio": "x", "text": "A, b!"}\n')
    assert main(["lm", "score", str(arpa), str(manifest)]) == 0
    printed = capsys.readouterr().out
    assert "1 sentences, 2 words, 0 OOV (0.00 %), perplexity " in printed
    assert main(["lm", "score", str(tmp_path / "none.arpa"), str(manifest)]) == 2
    assert "none.arpa" in capsys.readouterr().err
