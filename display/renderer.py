"""Announcement audio rendered in a process of its own, beside the server's.

Rendering a call's audio (espeak-ng once per language, trimming, writing the WAV) cost a
server worker about 5 ms of CPU per call, under its GIL, on the path of every call-next.
The pre-renderer (:class:`display.views.Prerenderer`) hands each call to a child process
instead: one per server process, started with the first call and kept, rendering one
announcement at a time with the same :class:`~display.announce.Announcer` settings into the
same cache, so the screen's request finds the file there.

The child is ``python -m display.renderer SETTINGS`` (``SETTINGS`` the announcer's as
JSON). It reads one job per line on its input, ``[kind, number, counter]``, and answers
each with one line, ``{"path": ...}`` or ``{"error": ...}``. It ends when its input does:
when the server process exits, however it exits.

When the child cannot be started, or dies, :meth:`RenderProcess.render` raises
:class:`RendererGone` and the caller renders in its own process, as before; the next job
starts a new child.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from display.announce import Announcement, AnnouncementError, Announcer

log = logging.getLogger(__name__)

_END_WAIT_S = 5.0  # how long an ending child may take to finish its job before it is killed


class RendererGone(RuntimeError):
    """The child could not be started or has exited: render in this process instead."""


def settings_of(speaker: Announcer) -> dict[str, Any]:
    """What a child needs to make the same announcer."""
    return {
        "cache_dir": str(speaker.cache_dir),
        "voice_dir": str(speaker.voice_dir) if speaker.voice_dir is not None else None,
        "langs": list(speaker.langs),
        "espeak": speaker.espeak,
        "sox": speaker.sox,
    }


def announcer_of(settings: dict[str, Any]) -> Announcer:
    voice_dir = settings.get("voice_dir")
    return Announcer(
        Path(settings["cache_dir"]),
        Path(voice_dir) if voice_dir else None,
        tuple(settings["langs"]),
        settings["espeak"],
        sox=settings.get("sox"),
    )


class RenderProcess:
    """A child process rendering announcements for ``speaker``, one at a time."""

    def __init__(self, speaker: Announcer) -> None:
        self.speaker = speaker
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The running child's process id, or None when none runs."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def render(self, a: Announcement) -> Path:
        """Render ``a`` in the child and wait for it; its cached file.

        Raises :class:`AnnouncementError` when the child could not render it (as
        :meth:`Announcer.audio_for` would have) and :class:`RendererGone` when the child
        could not be started or exited."""
        job = json.dumps([str(a.kind), a.number, a.counter]).encode() + b"\n"
        with self._lock:
            child = self._running_child()
            stdin, stdout = _pipes(child)
            try:
                stdin.write(job)
                stdin.flush()
                reply = stdout.readline()
            except OSError as exc:
                self._forget(child)
                raise RendererGone(f"the announcement renderer could not be reached: {exc}") from exc
            if not reply:
                self._forget(child)
                raise RendererGone(f"the announcement renderer exited with {child.wait()}")
        answer = json.loads(reply)
        if "error" in answer:
            raise AnnouncementError(str(answer["error"]))
        return Path(answer["path"])

    def close(self) -> None:
        """End the child (it exits when its input closes)."""
        with self._lock:
            if self._child is not None:
                self._forget(self._child)

    def _running_child(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is None:
            return self._child
        if self._child is not None:
            log.warning("the announcement renderer exited with %s; starting another", self._child.returncode)
            self._forget(self._child)
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "display.renderer", json.dumps(settings_of(self.speaker))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # (its stderr is the server's: a failure in it shows in the server's log)
            )
        except OSError as exc:
            raise RendererGone(f"the announcement renderer could not be started: {exc}") from exc
        return self._child

    def _forget(self, child: subprocess.Popen[bytes]) -> None:
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # (a broken pipe: the child is gone already)
                    pipe.close()
        try:  # (its input closed, it ends after the job in hand, if any)
            child.wait(timeout=_END_WAIT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if self._child is child:
            self._child = None


def _pipes(child: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    assert child.stdin is not None and child.stdout is not None
    return child.stdin, child.stdout


def serve(settings: dict[str, Any], jobs: IO[bytes], answers: IO[str]) -> None:
    """The child's loop: render each job read from ``jobs``, answer on ``answers``."""
    speaker = announcer_of(settings)
    for line in jobs:
        try:
            kind, number, counter = json.loads(line)
            answer = {"path": str(speaker.audio_for(Announcement(number, counter, kind)))}
        except (AnnouncementError, ValueError, TypeError) as exc:
            answer = {"error": str(exc)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> None:
    # A Ctrl-C in the server's terminal reaches the whole process group: the child ends
    # with the server, when its input closes, not with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(json.loads(sys.argv[1]), sys.stdin.buffer, sys.stdout)


if __name__ == "__main__":
    main()
