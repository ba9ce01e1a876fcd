"""Training a model: ``asr train`` and its loop (``train``), waveform and
SpecAugment augmentation (``augment``), resumable progress and checkpoint rotation
(``progress``), writing checkpoints and ``asr average`` (``checkpoint``), metrics
and curves (``report``) and data-parallel helpers (``distributed``).

May import every stage below it: ``asr.core`` to ``asr.inference`` (the dev set is
scored the way users' audio is).
"""
