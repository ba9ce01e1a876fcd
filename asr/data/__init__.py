"""Training data: JSONL manifests (``manifest``), the dataset, batches and loaders
that feed training (``dataset``), and the recipes' download and split helpers
(``prepare``).

May import: ``asr.core``, ``asr.audio``.
"""
