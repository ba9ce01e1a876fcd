"""Speech from text, for training data and adaptation: offline TTS voices
(``tts``), speaker and channel variation (``channel``) and ``asr adapt``, which
fits a model to a grammar from text alone (``adapt``, speaking its takes with
``takes``).

May import every stage below it: ``asr.core`` to ``asr.training``.
"""
