"""Serving a trained model: ``ASRModel`` (``recognizer``) and ``load_model`` with
``asr transcribe`` (``transcribe``), many files at once (``batch``), live audio
(``streaming``), output formats (``output``), exported ONNX models (``export``
writes them, ``quantize`` makes their int8 form, ``exported`` reads them), ``asr
evaluate`` (``evaluate``),
``asr tune-decoder`` (``tune``), the demo's pictures (``pictures``) and PocketSphinx,
the peer that benchmarks and recipes compare against (``peers``).

May import: ``asr.core``, ``asr.audio``, ``asr.data``, ``asr.model``,
``asr.decoding``. Never training.
"""
