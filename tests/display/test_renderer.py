"""The announcement renderer's child process: it renders into the server's cache, reports
its failures, and a child that dies is replaced (or the server renders the call itself)."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from display import announce, renderer, views
from display.announce import Announcement, AnnouncementError, Announcer
from display.renderer import RendererGone, RenderProcess

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

CALL = Announcement("A042", "3")


@pytest.fixture
def speaker(tmp_path: Path) -> Announcer:
    return Announcer(tmp_path / "cache")


@pytest.fixture
def child(speaker: Announcer) -> Iterator[RenderProcess]:
    process = RenderProcess(speaker)
    yield process
    process.close()


@pytest.fixture
def nothing_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process synthesises nothing: the child does (it may ask espeak-ng's version,
    which names the cached files)."""
    real_run = announce._run_program

    def refuse(argv: list[str], **kwargs: Any) -> Any:
        if "--version" not in argv:
            pytest.fail("a speech program ran in the server's process")
        return real_run(argv, **kwargs)

    monkeypatch.setattr(announce, "_run_program", refuse)


def test_the_child_renders_into_the_servers_cache(
    speaker: Announcer, child: RenderProcess, nothing_runs_here: None
) -> None:
    path = child.render(CALL)
    recall = child.render(Announcement("A042", "3", "recall"))
    assert path.parent == speaker.cache_dir and path.name.startswith("call-A042-")
    assert recall != path and recall.name.startswith("recall-A042-")
    first = child.pid
    assert first is not None and first != os.getpid()
    # The same name the server would have given it: its own lookup finds the file.
    assert speaker.audio_for(CALL) == path
    assert path.stat().st_size > 100_000  # a chime and two languages of speech
    assert child.render(CALL) == path and child.pid == first  # one child, kept


def test_a_failure_in_the_child_is_the_announcers_error(tmp_path: Path) -> None:
    failing = tmp_path / "espeak-ng"
    failing.write_text('#!/bin/sh\ncase "$1" in --version) echo fake;; *) echo "no voice" >&2; exit 2;; esac\n')
    failing.chmod(0o755)
    process = RenderProcess(Announcer(tmp_path / "cache", espeak=str(failing)))
    try:
        with pytest.raises(AnnouncementError, match="exited with 2 for 'ur': no voice"):
            process.render(CALL)
        assert process.pid is not None  # the child carries on with the next job
    finally:
        process.close()
    assert process.pid is None


def test_a_child_that_dies_is_reported_and_replaced(child: RenderProcess, nothing_runs_here: None) -> None:
    child.render(CALL)
    first = child.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with pytest.raises(RendererGone, match="exited with -9"):
        child.render(Announcement("B001", "1"))
    assert child.render(Announcement("B001", "1")).name.startswith("call-B001-")
    assert child.pid not in (None, first)


def test_without_a_child_the_server_renders_the_call(
    app: Flask, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    speaker = Announcer(tmp_path / "cache")
    monkeypatch.setattr(renderer.sys, "executable", str(tmp_path / "no-python"))
    worker = views.prerenderer()
    worker.submit(speaker, CALL)
    worker.run_once()
    assert "could not be started" in caplog.text
    assert [p.name.startswith("call-A042-") for p in speaker.cache_dir.glob("call-*.wav")] == [True]
