"""Gradio web demo: live microphone recognition, file transcription and pictures.

    python demo.py                      # http://127.0.0.1:7860 with the shipped model
    python demo.py --model exp/run/best.pt --port 8000 --max-seconds 120

The entry point only: the app lives in asr/app/ (``ui`` the page and the flags,
``handlers`` what the tabs compute, ``models`` the checkpoints it offers).
"""

from asr.app.ui import main

if __name__ == "__main__":
    main()
