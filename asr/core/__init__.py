"""Plain helpers every stage uses, with no audio or model inside: text
normalisation and the character tokenizer (``text``), WER/CER (``metrics``),
argparse value checks (``options``), command-line flags from config dataclasses
(``config``), CPU thread settings (``cpu``) and output-folder checks (``files``).

The lowest stage: it imports nothing else from ``asr``.
"""
