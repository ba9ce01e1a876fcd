"""The Live tab in a real browser: Debian's Chromium, driven by Playwright, speaks a
known recording into its fake microphone; partial and final text must appear in the
page and match the reference. It also measures, as the page shows them, the delay from
the start of speech to the first partial and from the end of speech to the last final.

Needs ``pip install playwright`` (the Python package only: the browser is Debian's
``chromium``, never a download) and the trained digits model (see conftest.py).

    ASR_DIGITS_MODEL=exp/fsdd/best.pt pytest -s tests/test_demo_browser.py  # latencies
"""

import json
import re
import shutil
import socket

import pytest
import soundfile as sf
from conftest import ROOT, digit_speech

import asr
from asr import app as demo
from asr.core.metrics import wer

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is missing")

SAMPLES = ROOT / "data" / "samples"
SPOKEN = [  # "one three two six": takes the digits model gets right at any offset
    SAMPLES / "1_lucas_4.wav", SAMPLES / "3_jackson_0.wav",
    "2_jackson_1.wav", "6_lucas_0.wav",
]  # fmt: skip
MAX_WER = 0.25  # one word of four: a busy browser drops a chunk now and then
SETTLE_S = 4.0  # after the end of speech, the final must show within this
FLAGS = [
    "--use-fake-ui-for-media-stream",  # grant the microphone without asking
    "--use-fake-device-for-media-stream",  # a fake microphone ...
    "--disable-background-networking",  # ... and no traffic but to the app
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
OUTSIDE = re.compile(
    r"^https?://(?!127\.0\.0\.1[:/]).*"
)  # aborted without calling Python

# Logs every change of the two Live textboxes with the page's clock, and the clicks on
# Record and Stop, so the delays are measured as a person looking at the page sees them.
WATCH_JS = """
window.__log = []; window.__clicks = {};
const last = {};
setInterval(() => {
  for (const id of ["live-partial", "live-finals"]) {
    const box = document.querySelector(`#${id} textarea`);
    const value = box ? box.value : "";
    if (value === last[id]) continue;
    last[id] = value;
    window.__log.push([performance.now(), id, value]);
  }
}, 20);
const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await getUserMedia(constraints);
  window.__clicks.microphone_open = performance.now();  // the fake file starts now
  return stream;
};
document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (button) window.__clicks[button.textContent.trim()] = performance.now();
}, true);
"""
# Turns off Chromium's echo cancellation, noise suppression and automatic gain, which
# Gradio leaves on: the server then receives the file nearly bit for bit.
RAW_AUDIO_JS = """
const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (constraints) => original({...constraints,
  audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
"""


VIEWPORT = {"width": 1280, "height": 720}  # a laptop screen (issue 27, item 6)
# While recording: the bottom of the Final box (page pixels) and whether Gradio's
# time-limit bar under the microphone shows (it stayed full width for 605 s)
FIRST_SCREEN_JS = """() => {
  const finals = document.querySelector("#live-finals textarea");
  const bar = document.querySelector("#live-audio .streaming-bar");
  return {finals_bottom: finals.getBoundingClientRect().bottom + window.scrollY,
          bar_shown: bar !== null && bar.getBoundingClientRect().height > 0};
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """The recording the fake microphone plays, padded with 1.5 s of silence at both
    ends (the browser drops chunks while the stream opens and never sends the last
    short one): (path, reference, speech start s, speech end s)."""
    wave, reference, start, end = digit_speech(SPOKEN, pause_s=1.0, pad_s=1.5)
    path = tmp_path_factory.mktemp("speech") / "one_three_two_six.wav"
    sf.write(path, wave, asr.SAMPLE_RATE, subtype="PCM_16")
    return path, reference, start, end


@pytest.fixture(scope="module")
def app_url(digits_checkpoint):
    cache = demo.ModelCache([str(digits_checkpoint)])
    app = demo.build_app(cache)
    port = free_port()
    demo.serve(app, port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture
def browser(speech):
    """A fresh Chromium per test: the fake microphone plays its file once per browser
    process (``%noloop``), so a second page would only hear silence."""
    with sync_api.sync_playwright() as playwright:
        args = [*FLAGS, f"--use-file-for-fake-audio-capture={speech[0]}%noloop"]
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=args
        )
        yield browser
        browser.close()


def speak(browser, url: str, raw: bool, wait_s: float, screenshot) -> dict:
    """Open the page, press Record, wait ``wait_s``, press Stop; the page's log."""
    context = browser.new_context(viewport=VIEWPORT)
    context.route(OUTSIDE, lambda route: route.abort())
    if raw:
        context.add_init_script(RAW_AUDIO_JS)
    context.add_init_script(WATCH_JS)
    page = context.new_page()
    try:
        page.goto(url)
        page.locator("#live-audio button.record-button").click(timeout=30_000)
        page.wait_for_timeout(wait_s * 1000)
        first_screen = page.evaluate(FIRST_SCREEN_JS)  # while recording
        page.locator("#live-audio").get_by_role("button", name="Stop").click()
        page.wait_for_timeout(1500)  # the stop handler's flush
        page.screenshot(path=screenshot)
        logged = page.evaluate("({log: window.__log, clicks: window.__clicks})")
        return {**logged, "first_screen": first_screen}
    finally:
        context.close()


def delays(log: list, open_ms: float, stop_ms: float, start_s: float, end_s: float):
    """(seconds from the start of speech to the first partial, seconds from the end of
    speech to the last change of the finals before Stop, finals text at that time).
    The file starts playing when the microphone opens, at ``open_ms`` on the page."""
    partials = [t for t, box, text in log if box == "live-partial" and text.strip()]
    finals = [(t, text) for t, box, text in log if box == "live-finals" and t < stop_ms]
    first_partial = (
        float((partials[0] - open_ms) / 1000 - start_s) if partials else None
    )
    last_final = float((finals[-1][0] - open_ms) / 1000 - end_s) if finals else None
    return first_partial, last_final, finals[-1][1] if finals else ""


# Gradio's page drops microphone chunks that arrive while the stream opens (see
# shared/notes/browser-mic-test.md); on a loaded machine a run can lose the spoken part
# altogether, so a failed run is retried twice before it counts
@pytest.mark.flaky(reruns=2)
@pytest.mark.parametrize("raw", [False, True], ids=["browser-processing", "raw-audio"])
def test_live_tab_in_chromium(browser, app_url, speech, raw, tmp_path):
    path, reference, start_s, end_s = speech
    screenshot = tmp_path / "live.png"
    page = speak(browser, app_url, raw, end_s + SETTLE_S, screenshot)  # Stop after
    log, clicks = page["log"], page["clicks"]
    # the first screen holds what a person needs while speaking: all of the Final box
    assert page["first_screen"]["finals_bottom"] <= VIEWPORT["height"], page
    assert not page["first_screen"]["bar_shown"], page
    open_ms, stop_ms = clicks["microphone_open"], clicks["Stop"]
    first_partial, last_final, finals = delays(log, open_ms, stop_ms, start_s, end_s)
    report = {"first_partial_s": first_partial, "final_after_end_s": last_final,
              "finals": finals, "reference": reference, "raw_audio": raw}  # fmt: skip
    (tmp_path / "latency.json").write_text(json.dumps(report, indent=2))
    print(f"\nlive latency ({'raw' if raw else 'processed'} audio): {report}")
    assert first_partial is not None, "no partial text appeared while speaking"
    assert finals, "no final text appeared before Stop"
    assert wer(reference, " ".join(finals.split())) <= MAX_WER, finals
    assert 0 < first_partial < SETTLE_S and 0 < last_final < SETTLE_S
    assert screenshot.stat().st_size > 10_000
