"""The Gradio demo: the callback directly, and the served app through gradio_client."""

import socket

import numpy as np
import pytest
import soundfile as sf
from conftest import DATA

import asr
import demo


@pytest.fixture
def model(tiny_checkpoint):
    return asr.load_model(tiny_checkpoint)


def test_callback_returns_text_and_refuses_bad_input(model, tmp_path):
    transcribe = demo.make_transcriber(model, max_seconds=5)
    assert isinstance(transcribe(str(DATA / "2_jackson_1.wav")), str)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"garbage")
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(16000 * 6, np.float32), 16000)
    for path, message in [(None, "Record or upload"), (str(bad), "Cannot read"),
                          (str(long), "limit is 5")]:  # fmt: skip
        with pytest.raises(demo.gr.Error, match=message):
            transcribe(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_app_transcribes_and_survives_bad_files(model, tmp_path):
    gradio_client = pytest.importorskip("gradio_client")
    app = demo.build_app(model)
    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True)
    try:
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        good = gradio_client.handle_file(str(DATA / "2_jackson_1.wav"))
        assert isinstance(client.predict(good, api_name="/transcribe"), str)
        bad = tmp_path / "bad.wav"
        bad.write_bytes(b"garbage")
        with pytest.raises(Exception, match="Cannot read"):
            client.predict(gradio_client.handle_file(str(bad)), api_name="/transcribe")
        assert isinstance(client.predict(good, api_name="/transcribe"), str)  # still serving
    finally:
        app.close()
