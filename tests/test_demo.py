"""The Gradio demo: the live stream handler fed synthetic 48 kHz chunks, the File
callback, the pictures, the model picker, and the served app through gradio_client
(bad input, and 8 clients at once). The real browser test is test_demo_browser.py."""

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from conftest import DATA, DIGIT_WORDS, DIGITS, DIGITS_MODEL, ROOT, digit_speech

import asr
from asr import app as demo
from asr.core.metrics import wer

RATE = 48_000  # what browsers usually capture at
CHUNK_S = demo.STREAM_EVERY_S
SPOKEN = ["2_jackson_1.wav", "4_theo_2.wav", "6_lucas_0.wav"]  # "two four six"
SAMPLES = sorted((ROOT / "data" / "samples").glob("*.wav"))  # one take of 0 1 3 5 7 9
MAX_WER = 0.34  # the digits model misses a word of three now and then (e.g. "for")


@pytest.fixture
def model(tiny_checkpoint):
    return asr.load_model(tiny_checkpoint)


@pytest.fixture(scope="module")
def real_model(digits_checkpoint):
    return asr.load_model(digits_checkpoint)


def browser_chunks(wave: np.ndarray, rate: int = RATE, chunk_s: float = CHUNK_S):
    """16 kHz float mono -> (rate, (N, 2) int16) chunks, as gr.Audio streams them."""
    up = torchaudio.functional.resample(torch.from_numpy(wave), asr.SAMPLE_RATE, rate)
    pcm = np.clip(np.round(up.numpy() * 32768), -32768, 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1)
    step = int(chunk_s * rate)
    return [(rate, stereo[i : i + step]) for i in range(0, len(stereo), step)]


def stream(session: demo.LiveSession, chunks) -> list[tuple[str, str]]:
    shown = [session.on_chunk(chunk) for chunk in chunks]
    return shown + [session.stop()]


# -- the live stream handler ---------------------------------------------------------


def test_live_session_finals_match_offline_segments(model):
    wave, _, _, _ = digit_speech(SPOKEN)
    session, chunks = demo.LiveSession(model), browser_chunks(wave)
    shown = stream(session, chunks)
    audio = np.concatenate([c for _, c in chunks])  # what the browser sent, at 48 kHz
    offline = [s.text for s in model.transcribe_segments(audio, RATE) if s.text]
    assert shown[-1] == ("", "\n".join(offline))
    assert len(session.finals) == len(SPOKEN)  # one final per digit, closed at pauses
    finals_seen = [f for _, f in shown]
    assert all(
        a == b[: len(a)] for a, b in zip(finals_seen, finals_seen[1:], strict=False)
    )  # grow only


def test_live_session_recognises_digits_at_48k(real_model):
    wave, reference, _, _ = digit_speech(SPOKEN)
    shown = stream(demo.LiveSession(real_model), browser_chunks(wave))
    assert any(partial for partial, _ in shown)  # text appeared while speaking
    assert wer(reference, " ".join(shown[-1][1].split())) <= MAX_WER
    first_final = next(i for i, (_, f) in enumerate(shown) if f)
    assert first_final < len(shown) - 2  # settled at a pause, not only at Stop


def test_live_session_silence_limit_and_utterance(model):
    session = demo.LiveSession(model, max_seconds=2)
    silence = browser_chunks(np.zeros(asr.SAMPLE_RATE * 3, np.float32))
    shown = [session.on_chunk(c) for c in silence]
    assert shown[0] == ("", "")  # digital silence: no text, no division by zero
    assert "limit of 2 s" in shown[-1][0] and session.received_s == pytest.approx(2.0)
    session.stop()
    wave, _, _, _ = digit_speech(SPOKEN[:1], pad_s=0.5)
    stream(session, browser_chunks(wave))
    final = session.utterance
    assert final is not None and 0.3 < len(final) / asr.SAMPLE_RATE < len(wave) / 16000
    assert np.abs(final).max() == pytest.approx(np.abs(wave).max(), rel=0.1)  # scaled


def test_live_handlers_keep_one_session_per_tab(tiny_checkpoint):
    cache = demo.ModelCache([str(tiny_checkpoint)])
    chunk = browser_chunks(np.zeros(8000, np.float32))[0]
    first, _, _, _ = demo.live_chunk(None, chunk, None, cache, 60)
    again, _, _, _ = demo.live_chunk(first, chunk, None, cache, 60)
    other, _, _, _ = demo.live_chunk(None, chunk, None, cache, 60)
    assert first is again and other is not first
    assert first.model is other.model  # the model is loaded once and shared
    assert demo.live_stop(None) == (None, "", "", None)


def test_interleaved_sessions_keep_their_own_transcripts(real_model):
    sequences = [[n] for n in DIGITS] + [SPOKEN, SPOKEN[::-1], SPOKEN[1:], SPOKEN[:2]]
    sessions = [demo.LiveSession(real_model) for _ in sequences]
    feeds = [browser_chunks(digit_speech(s)[0]) for s in sequences]
    for step in range(max(len(f) for f in feeds)):  # chunk by chunk, tab after tab
        for session, feed in zip(sessions, feeds, strict=True):
            if step < len(feed):
                session.on_chunk(feed[step])
    together = [session.stop()[1] for session in sessions]
    alone = [stream(demo.LiveSession(real_model), feed)[-1][1] for feed in feeds]
    assert together == alone
    assert len(set(together)) == len(sequences)  # all different: a mix-up would show
    assert wer("two four six", " ".join(together[-4].split())) <= MAX_WER


# -- the File tab, the pictures and the model picker ---------------------------------


def test_file_callback_outputs_and_bad_input(tiny_checkpoint, tmp_path):
    make = demo.make_transcriber(demo.ModelCache([str(tiny_checkpoint)]), 5)

    def transcribe(path):  # greedy: this test is not about decoding
        return make(path, None, "greedy")

    text, rows, files, wave = transcribe(str(DATA / "2_jackson_1.wav"))
    assert isinstance(text, str) and 0 < len(wave) <= len(
        asr.load_audio(DATA / "2_jackson_1.wav")
    )
    assert sorted(p.rsplit(".", 1)[1] for p in files) == ["json", "srt", "vtt"]
    document = json.loads(
        Path(next(p for p in files if p.endswith(".json"))).read_text()
    )
    assert [
        [w["start"], w["end"], w["word"], round(w["confidence"], 3)]
        for s in document["segments"] for w in s.get("words", [])
    ] == rows  # fmt: skip
    bad, long, silent = (
        tmp_path / "bad.wav",
        tmp_path / "long.wav",
        tmp_path / "silent.wav",
    )
    bad.write_bytes(b"garbage")
    sf.write(long, np.zeros(16000 * 6, np.float32), 16000)
    sf.write(silent, np.zeros(16000 * 2, np.float32), 16000)
    for path, message in [(None, "Record or upload"), (str(bad), "Cannot read"),
                          (str(long), "limit is 5 s")]:  # fmt: skip
        with pytest.raises(gr.Error, match=message):
            transcribe(path)
    with pytest.warns(UserWarning, match="No speech recognised"):  # gr.Warning
        assert transcribe(str(silent))[:2] == ("(no speech recognised)", [])


def test_file_callback_with_real_model_and_hotwords(real_model, tmp_path):
    cache = demo.ModelCache(["real"])
    cache.models["real"] = real_model
    wave, reference, _, _ = digit_speech(SPOKEN)
    path = tmp_path / "digits.wav"
    sf.write(path, wave, asr.SAMPLE_RATE)
    text, rows, files, last = demo.make_transcriber(cache)(
        str(path), "real", "greedy", "six"
    )
    assert wer(reference, text) <= MAX_WER and len(rows) == 3  # one word per digit
    assert all(a[1] <= b[0] for a, b in zip(rows, rows[1:], strict=False))  # in order
    assert all(0 < conf <= 1 for *_, conf in rows)
    srt = Path(next(p for p in files if p.endswith(".srt"))).read_text()
    assert srt.startswith("1\n00:00:01,") and "\n\n3\n" in srt
    segments = json.loads(
        Path(next(p for p in files if p.endswith(".json"))).read_text()
    )
    six = segments["segments"][-1]
    assert rows[-1][0] >= six["start"] and rows[-1][1] <= six["end"] + 0.05
    assert len(last) == round((six["end"] - six["start"]) * asr.SAMPLE_RATE)


def test_file_callback_lm_beam_search(real_model, tmp_path):
    cache = demo.ModelCache(["real"])
    cache.models["real"] = real_model
    wave, reference, _, _ = digit_speech(SPOKEN)
    path = tmp_path / "digits.wav"
    sf.write(path, wave, asr.SAMPLE_RATE)
    text, rows, _, _ = demo.make_transcriber(cache)(
        str(path), "real", "LM beam search", "six"
    )
    assert wer(reference, text) <= MAX_WER
    assert [r[2] for r in rows] == text.split()


def test_parse_hotwords():
    assert demo.parse_hotwords("Philip, steels\n  etc ,") == ("philip", "steels", "etc")
    assert demo.parse_hotwords(None) == ()


def test_list_models_puts_default_first(tmp_path):
    for name in ["zeta.pt", "default.pt", "alpha.pt", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    names = [p.rsplit("/", 1)[1] for p in demo.list_models(tmp_path)]
    assert names == ["default.pt", "alpha.pt", "zeta.pt"]
    extra = demo.list_models(tmp_path, str(tmp_path / "alpha.pt"))
    assert [p.rsplit("/", 1)[1] for p in extra] == ["alpha.pt", "default.pt", "zeta.pt"]
    assert demo.list_models(tmp_path / "missing") == []


def test_model_summary_reads_the_card(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("# Models\n\nAll models.\n\n## `default.pt`\n\nDigits, FSDD.\n\n"
                    "More.\n\n## other.pt\n\nOther one.\n")  # fmt: skip
    assert demo.model_summary("x/default.pt", card) == "Digits, FSDD."
    assert demo.model_summary("other.pt", card) == "Other one."
    assert demo.model_summary("unknown.pt", card) == "All models."
    assert "no model card" in demo.model_summary("a.pt", tmp_path / "none.md")


def test_shipped_card_describes_the_digits_model_offered_by_model_flag():
    """`demo.py --model data/models/digits.pt` offers it first, with its own card."""
    assert demo.list_models(demo.MODELS_DIR, str(DIGITS_MODEL))[0] == str(DIGITS_MODEL)
    assert "digit words" in demo.model_summary(str(DIGITS_MODEL))


def test_main_refuses_a_bad_checkpoint_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as exit_info:
        demo.main(["--model", str(bad)])
    assert exit_info.value.code == 2
    assert "Cannot load that model" in capsys.readouterr().err


def test_model_cache_loads_once_and_refuses_bad_checkpoints(tiny_checkpoint, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    cache = demo.ModelCache([str(tiny_checkpoint), str(bad)])
    assert cache.get(None) is cache.get(str(tiny_checkpoint))
    with pytest.raises(gr.Error, match="Cannot load"):
        cache.get(str(bad))
    with pytest.raises(gr.Error, match="Unknown model"):
        cache.get("/etc/passwd")


# -- the served app ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve():
    """serve(cache) -> URL of the demo launched on a free loopback port."""
    apps = []

    def launch(cache: demo.ModelCache, max_file_size=demo.MAX_FILE_SIZE, **kwargs):
        app = demo.build_app(cache, **kwargs)
        port = free_port()
        demo.serve(app, port=port, max_file_size=max_file_size, block=False)
        apps.append(app)
        return f"http://127.0.0.1:{port}/"

    yield launch
    for app in apps:
        app.close()


def test_served_app_transcribes_and_survives_bad_files(
    tiny_checkpoint, tmp_path, serve
):
    gradio_client = pytest.importorskip("gradio_client")
    cache = demo.ModelCache([str(tiny_checkpoint)])
    url = serve(cache, max_file_size="150kb", max_seconds=5)
    client = gradio_client.Client(url, verbose=False)
    good = gradio_client.handle_file(str(DATA / "2_jackson_1.wav"))
    text, table, files = client.predict(good, api_name="/transcribe")
    assert isinstance(text, str) and {"headers", "data"} <= set(table)
    assert sorted(f.rsplit(".", 1)[1] for f in files) == ["json", "srt", "vtt"]
    bad, long, big = tmp_path / "bad.wav", tmp_path / "long.wav", tmp_path / "big.wav"
    bad.write_bytes(b"garbage")
    sf.write(long, np.zeros(8000 * 6, np.int16), 8000)  # 96 kB
    sf.write(big, np.zeros(16000 * 4, np.float32), 16000, subtype="FLOAT")  # 256 kB
    cases = [
        (bad, "Cannot read"),
        (long, "limit is 5 s"),
        (big, "(?i)exceed|size|large"),
    ]
    for path, message in cases:
        with pytest.raises(Exception, match=message):
            client.predict(gradio_client.handle_file(str(path)), api_name="/transcribe")
    assert client.predict(good, api_name="/transcribe")[0] == text  # still serving


def test_eight_clients_at_once_get_their_own_transcripts(real_model, serve):
    gradio_client = pytest.importorskip("gradio_client")
    cache = demo.ModelCache(["real"])
    cache.models["real"] = real_model
    url = serve(cache)
    paths = SAMPLES + [DATA / n for n in list(DIGITS)[:2]]
    files = {p: DIGIT_WORDS[int(p.name[0])] for p in paths}
    assert len(set(files.values())) == 8  # eight different answers to tell apart

    def ask(path):
        client = gradio_client.Client(url, verbose=False)
        return client.predict(
            gradio_client.handle_file(str(path)), api_name="/transcribe"
        )

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, files, timeout=120))
    alone = [real_model.transcribe(p) for p in files]  # each file on its own
    assert [a[0] for a in answers] == alone
    assert wer(" ".join(files.values()), " ".join(alone)) <= 0.25
    assert time.monotonic() - started < 120
