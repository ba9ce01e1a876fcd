"""PocketSphinx 5, the peer that the benchmarks and recipes measure asr against.

One wrapper for every comparison, so that each gives PocketSphinx the same 16-bit
audio and reads its answer the same way: free speech with its bundled en-us model and
3-gram LM (``benchmarks/transcribe.py``, ``recipes/english/evaluate.py``), or the
same grammars ours search (``recipes/commands``): a JSGF file as PocketSphinx reads
it, any other grammar (sentences.ini, large JSGF) as the finite-state grammar of
``asr.decoding.grammar.to_fsg``, because its JSGF reader cannot take sentences.ini
and inlines rules until it runs out of memory on large grammars.

PocketSphinx is not a dependency of ``asr`` (the ``dev`` extra installs it).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..decoding.grammar import Grammar, load_grammar, to_fsg


class PocketSphinx:
    """PocketSphinx 5 (``pocketsphinx`` on PyPI, its en-us acoustic model).

    Args:
        words: pronunciations to add to its CMU dictionary (word -> ARPAbet phones),
            for grammar words it does not know.
    """

    name = "pocketsphinx"

    def __init__(self, words: dict[str, str] | None = None):
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise ImportError(
                "PocketSphinx is not installed: pip install pocketsphinx"
            ) from e
        self.decoder = Decoder(samprate=16000, loglevel="FATAL")
        for word, phones in (words or {}).items():
            self.decoder.add_word(word, phones, True)

    def add_grammar(self, name: str, grammar: str | Path | Grammar) -> None:
        """Make ``grammar`` (a grammar file or a loaded ``Grammar``) a search called
        ``name``: a .jsgf file through PocketSphinx's own reader, anything else as
        our FSG of it."""
        if not isinstance(grammar, Grammar):
            if Path(grammar).suffix == ".jsgf":
                self.decoder.add_jsgf_file(name, str(grammar))
                return
            grammar = load_grammar(grammar)
        with tempfile.TemporaryDirectory() as tmp:
            fsg = Path(tmp) / f"{name}.fsg"
            fsg.write_text(to_fsg(grammar))
            self.decoder.add_fsg(name, self.decoder.read_fsg(str(fsg)))

    def transcribe(self, wave: np.ndarray, search: str | None = None) -> str:
        """The words PocketSphinx hears in ``wave`` (16 kHz mono float in [-1, 1]),
        under the search called ``search`` (default: the one active, at first its
        LM; switched only when another is asked for, so a loop over one grammar does
        not set it up again for every utterance), single-spaced; "" when it finds
        nothing."""
        if search is not None and search != self.decoder.current_search():
            self.decoder.activate_search(search)
        pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return " ".join(hyp.hypstr.split()) if hyp is not None else ""
