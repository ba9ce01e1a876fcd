"""The demo's limits per request and per session, so that no client can push the
server to gigabytes or tie it up: live chunks (rate, length), the live sessions that
hold audio (least recently used beyond a count let go), grammar size x audio length,
whether a request's client has gone, and the download folders' lifetime. The HTTP
requests themselves are bounded in ``guard.py``.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np

import asr

from ..audio.io import check_rate

if TYPE_CHECKING:
    from .handlers import LiveSession

MAX_LIVE_RATE = 192_000  # Hz: faster live chunks are refused (browsers send 44.1/48k)
MAX_CHUNK_S = 5.0  # a live chunk may hold this many seconds of stereo (the page: 0.5)
MAX_LIVE_SESSIONS = 32  # sessions holding audio; beyond, the least recent one lets go
MAX_FINALS = 200  # final lines a live session keeps (the oldest go first)
MAX_GRAMMAR_CHARS = 100_000  # a grammar box may hold this many characters
MAX_GRAMMAR_WORK = 2_000_000  # grammar characters x seconds of audio one request may
#                               match (100 kB: 20 s; 10 kB: 200 s)
DOWNLOAD_TTL_S = 600  # download folders older than this are deleted (Gradio has
#                       copied them into its own cache by then)


def check_chunk(chunk) -> tuple[int, np.ndarray]:
    """(rate, samples) of a live chunk, or an ``AudioError`` (``TypeError``) saying
    why it cannot be used; nothing is copied or resampled here."""
    try:
        rate, samples = chunk
    except (TypeError, ValueError):
        raise TypeError("expected (rate, samples)") from None
    if not isinstance(samples, np.ndarray):
        raise TypeError(f"expected an array of samples, got {type(samples).__name__}")
    rate = check_rate(rate)
    if not 1 <= rate <= MAX_LIVE_RATE:
        raise asr.AudioError(f"a rate of {rate} Hz; at most {MAX_LIVE_RATE} Hz")
    if samples.size > MAX_CHUNK_S * rate * 2:
        seconds = samples.size / rate
        raise asr.AudioError(
            f"{seconds:.1f} s of samples in one chunk; at most {MAX_CHUNK_S:g} s"
        )
    return rate, samples


class SessionLimit:
    """The live sessions that hold audio, least recently used first: beyond
    ``limit`` the oldest lets go of its audio (``LiveSession.release``), so that the
    audio kept in all is bounded however many tabs connect. Sessions Gradio drops
    (``gr.State`` time to live) leave by themselves (weak references)."""

    def __init__(self, limit: int = MAX_LIVE_SESSIONS):
        self.limit = limit
        self.order: dict[int, weakref.ref] = {}  # key -> session, oldest first
        self.keys = weakref.WeakKeyDictionary()  # session -> key
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def add(self, session: LiveSession) -> None:
        self.touch(session)

    def touch(self, session: LiveSession) -> None:
        """``session`` was just used: it goes last; the oldest beyond the limit
        lets go of its audio."""
        with self.lock:
            self.order.pop(self.keys.get(session, -1), None)
            key = next(self.counter)
            self.keys[session] = key
            self.order[key] = weakref.ref(session)
            self.order = {k: r for k, r in self.order.items() if r() is not None}
            evicted = [self.order.pop(k)() for k in list(self.order)[: -self.limit]]
        for old in evicted:
            if old is not None:
                self.keys.pop(old, None)
                old.release()

    def __len__(self) -> int:
        return sum(r() is not None for r in self.order.values())


LIVE_SESSIONS = SessionLimit()


@functools.cache
def downloads_root() -> Path:
    """This process's folder of download folders (``asr-demo-*`` in the temporary
    directory), deleted when the process exits."""
    root = Path(tempfile.mkdtemp(prefix="asr-demo-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def prune_downloads(max_age_s: float = DOWNLOAD_TTL_S) -> None:
    """Delete download folders older than ``max_age_s``: Gradio copies the files a
    callback returns into its own cache (cleared by ``delete_cache``), so ours are
    only needed until the answer has been sent."""
    for folder in downloads_root().iterdir():
        try:
            if time.time() - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # another request pruned it first
            continue


def check_grammar_work(text: str, seconds: float) -> None:
    """Refuse a grammar and recording whose size x length exceeds
    ``MAX_GRAMMAR_WORK``: matching costs about that much (a 10-minute upload with a
    100 kB grammar took 78 s of one core and held a request slot all that time)."""
    work = len(text) * seconds
    if work > MAX_GRAMMAR_WORK:
        longest = MAX_GRAMMAR_WORK / len(text)
        raise gr.Error(
            f"Grammar: a grammar of {len(text)} characters can match at most "
            f"{longest:.0f} s of audio; this recording lasts {seconds:.0f} s."
        )


def client_gone(request) -> bool:
    """Whether the client of a queued request has gone (closed the page, dropped
    the connection). Gradio then marks the request's job dead (``Queue.clean_events``)
    but cannot stop a function that is running, so long work asks between steps.
    Gradio has no public call for this; without a queue it answers False."""
    fastapi_request = getattr(request, "request", None)
    session = getattr(request, "session_hash", None)
    try:
        queue = fastapi_request.app.get_blocks()._queue
        jobs = [job for batch in queue.active_jobs if batch for job in batch]
    except AttributeError:
        return False
    return any(job.session_hash == session and not job.alive for job in jobs)
