"""The Gradio demo (``python demo.py``): ``ui`` builds the page and parses the
command line, ``handlers`` computes what the tabs show, ``models`` lists, describes
and caches the checkpoints the page offers.

The top of the package: it may import every other subpackage (it mostly uses the
public ``asr`` API), and nothing in ``asr`` imports it.
"""

from .handlers import (
    DECODERS,
    MAX_SECONDS,
    DecodeChoice,
    LiveSession,
    decode_segments,
    live_chunk,
    live_stop,
    make_transcriber,
    parse_hotwords,
    read_recording,
)
from .models import MODELS_DIR, ModelCache, list_models, model_summary
from .ui import (
    MAX_FILE_SIZE,
    STREAM_EVERY_S,
    build_app,
    build_parser,
    default_concurrency,
    main,
    port_problem,
    serve,
)

# the demo's names, wherever they live: tests and scripts use them as demo.<name>
__all__ = [
    "DECODERS", "MAX_FILE_SIZE", "MAX_SECONDS", "MODELS_DIR", "STREAM_EVERY_S",
    "DecodeChoice", "LiveSession", "ModelCache", "build_app", "build_parser",
    "decode_segments", "default_concurrency", "list_models", "live_chunk",
    "live_stop", "main", "make_transcriber", "model_summary", "parse_hotwords",
    "port_problem", "read_recording", "serve",
]  # fmt: skip
