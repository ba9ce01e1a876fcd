"""The network and its files: ``ModelConfig`` and the BiRNN-CTC ``Encoder``
(``encoder``), and reading a checkpoint safely (``checkpoint``: ``CheckpointError``,
``load_checkpoint``, ``configs_from_state``, the shipped ``MODELS_DIR``). Writing
checkpoints is training's business (``asr.training.checkpoint``).

May import: ``asr.core``, ``asr.audio``. Never decoding, losses or optimizers.
"""
