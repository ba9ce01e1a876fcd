"""CTC posteriors to text: greedy decoding (``greedy``), LM beam search with
hotwords (``beam``), the word LMs it reads (``wordlm``, ``arpa``) and builds
(``lm``), grammars and grammar matching (``grammar``, ``match``), word timings and
confidence (``alignment``), and the decoder flags and settings files
(``settings``).

May import: ``asr.core``, ``asr.audio``, ``asr.data``, ``asr.model``.
"""
