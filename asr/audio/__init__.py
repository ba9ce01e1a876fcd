"""Audio in, features out: reading any common file as 16 kHz mono float32
(``io``), MFCC features (``features``), bounded-memory block reading and resampling
(``blocks``) and the voice-activity detector that splits speech at pauses (``vad``).

May import: ``asr.core``.
"""
