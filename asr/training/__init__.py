"""Training a model: ``asr train`` and its loop (``train``), waveform and
SpecAugment augmentation (``augment``), resumable progress and checkpoint rotation
(``progress``), writing checkpoints and ``asr average`` (``checkpoint``), metrics
and curves (``report``), data-parallel helpers (``distributed``) and ``asr
pseudo-label``, transcripts for untranscribed speech from a teacher (``pseudolabel``).

May import every stage below it: ``asr.core`` to ``asr.inference`` (the dev set is
scored the way users' audio is).
"""
