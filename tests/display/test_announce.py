"""Voice announcements: words, real espeak-ng audio, caching, recorded voices, safety."""

from __future__ import annotations

import array
import math
import os
import resource
import shutil
import socket
import subprocess
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from display import announce
from display.announce import (
    SAMPLE_RATE,
    Announcement,
    AnnouncementError,
    AnnouncementKind,
    Announcer,
    AnnouncerUnavailableError,
    clip_keys,
    required_clip_names,
    speech_markup,
    spoken_text,
    spoken_words,
)

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed")
MISSING_ESPEAK = "/nonexistent/espeak-ng"

URDU_DIGITS = ["صفر", "ایک", "دو", "تین", "چار", "پانچ", "چھ", "سات", "آٹھ", "نو"]
CALL = Announcement("A042", "3")
RECALL = Announcement("A042", "3", AnnouncementKind.RECALL)
COLLECTION = Announcement("A042", "3", AnnouncementKind.COLLECTION)


# --- helpers ------------------------------------------------------------------------------


def read_wav(path: Path) -> tuple[wave._wave_params, bytes]:
    with wave.open(str(path), "rb") as wav:
        return wav.getparams(), wav.readframes(wav.getnframes())


def duration(path: Path) -> float:
    params, _ = read_wav(path)
    return params.nframes / params.framerate


def write_tone(path: Path, *, seconds: float, freq: float, rate: int, channels: int) -> None:
    """A tiny synthetic 'word': a tone with silence either side, in any PCM format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pad = [0] * int(0.05 * rate)
    tone = [int(12000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(seconds * rate))]
    samples = pad + tone + pad
    frames = b"".join(s.to_bytes(2, "little", signed=True) * channels for s in samples)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)


def make_voice(root: Path, lang: str, *, rate: int = 16000, channels: int = 2) -> Path:
    """A complete recorded voice folder for ``lang`` under ``root``; returns ``root``."""
    for i, name in enumerate(required_clip_names(lang)):
        write_tone(root / lang / name, seconds=0.1, freq=300 + 10 * i, rate=rate, channels=channels)
    return root


@pytest.fixture
def espeak_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Records every espeak-ng synthesis the announcer runs (the real one still runs)."""
    calls: list[list[str]] = []
    real_run = announce._run_program

    def counting_run(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        if Path(cmd[0]).name.startswith("espeak") and "--version" not in cmd:
            calls.append(list(cmd))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(announce, "_run_program", counting_run)
    return calls


@pytest.fixture
def announcer(tmp_path: Path) -> Announcer:
    return Announcer(tmp_path / "cache")


def voices_of(calls: list[list[str]]) -> list[str]:
    return [cmd[cmd.index("-v") + 1] for cmd in calls]


# --- words --------------------------------------------------------------------------------


def test_english_call_words() -> None:
    assert spoken_words(CALL, "en") == ["token", "A", "0", "4", "2", "counter", "3"]
    assert spoken_text(CALL, "en") == "token A 0 4 2, counter 3"


def test_urdu_call_words() -> None:
    assert spoken_words(CALL, "ur") == [
        "ٹوکن", "اے", "صفر", "چار", "دو", "کاؤنٹر نمبر", "تین", "پر تشریف لائیں",
    ]  # fmt: skip
    assert spoken_text(CALL, "ur") == "ٹوکن اے صفر چار دو، کاؤنٹر نمبر تین پر تشریف لائیں"


@pytest.mark.parametrize(("digit", "word"), list(enumerate(URDU_DIGITS)))
def test_urdu_digit_names(digit: int, word: str) -> None:
    words = spoken_words(Announcement(f"B{digit}", str(digit)), "ur")
    assert words[2] == word  # the token digit
    assert words[4] == word  # the counter digit


def test_recall_prefixes_again() -> None:
    assert spoken_words(RECALL, "en") == ["again", *spoken_words(CALL, "en")]
    assert spoken_words(RECALL, "ur") == ["دوبارہ", *spoken_words(CALL, "ur")]
    assert spoken_text(RECALL, "en") == "again, token A 0 4 2, counter 3"


def test_collection_words() -> None:
    assert spoken_text(COLLECTION, "en") == ("token A 0 4 2, please collect your documents at counter 3")
    assert spoken_words(COLLECTION, "ur") == [
        "ٹوکن", "اے", "صفر", "چار", "دو", "کاؤنٹر نمبر", "تین", "سے اپنے کاغذات وصول کریں",
    ]  # fmt: skip


def test_counter_labels_are_spelled_and_numbers_are_digit_by_digit() -> None:
    a = Announcement("AB1200", "b-12")
    assert spoken_words(a, "en") == [
        "token", "A", "B", "1", "2", "0", "0", "counter", "B", "1", "2",
    ]  # fmt: skip
    assert clip_keys(a, "en") == [
        "token", "letter_a", "letter_b", "digit_1", "digit_2", "digit_0", "digit_0",
        "counter", "letter_b", "digit_1", "digit_2",
    ]  # fmt: skip
    assert spoken_words(a, "ur")[1:3] == ["اے", "بی"]


def test_unsupported_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        spoken_words(CALL, "fr")
    with pytest.raises(ValueError, match="unsupported language"):
        Announcer(Path("unused"), langs=("ur", "fr"))


def test_required_clip_names() -> None:
    en, ur = required_clip_names("en"), required_clip_names("ur")
    for names in (en, ur):
        assert len(names) == len(set(names))
        assert all(name.isascii() and name.endswith(".wav") for name in names)
        assert {"token.wav", "counter.wav", "again.wav", "letter_a.wav", "letter_z.wav"} <= set(names)
        assert {f"digit_{d}.wav" for d in range(10)} <= set(names)
    assert "please_come.wav" in ur
    assert "please_come.wav" not in en
    # Every key any announcement can need is in the list.
    for kind in AnnouncementKind:
        a = Announcement("QZ9876", "W 1", kind)
        for lang, names in (("en", en), ("ur", ur)):
            assert {f"{key}.wav" for key in clip_keys(a, lang)} <= set(names)


# --- hostile input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["../../etc", "A042/..", "a042", "ABC1", "A12345", "A", "042", "A042\n", "A٠٤٢", "", " A042"],
)
def test_bad_numbers_are_refused(number: str) -> None:
    with pytest.raises(ValueError, match="token number"):
        Announcement(number, "3")


@pytest.mark.parametrize("counter", ["<script>", "", "   ", "-", "1234567890123", "3\n", "3;rm", "../3", "٣"])
def test_bad_counters_are_refused(counter: str) -> None:
    with pytest.raises(ValueError, match="counter label"):
        Announcement("A042", counter)


def test_bad_kind_is_refused_and_strings_are_coerced() -> None:
    with pytest.raises(ValueError, match="kind"):
        Announcement("A042", "3", "shout")  # type: ignore[arg-type]
    assert Announcement("A042", "3", "recall").kind is AnnouncementKind.RECALL  # type: ignore[arg-type]


# --- espeak-ng pronunciation (checked via phonemes, since nobody can listen in CI) ---------


def phonemes(a: Announcement, lang: str) -> str:
    done = subprocess.run(
        ["espeak-ng", "-v", lang, "-m", "-x", "-q", "--stdin"],
        input=speech_markup(a, lang).encode(),
        capture_output=True,
        timeout=20,
        check=True,
    )
    return done.stdout.decode()


@needs_espeak
def test_english_letters_are_letter_names_and_digits_are_separate() -> None:
    text = phonemes(Announcement("A042", "3"), "en")
    assert "'eI" in text  # the letter A, not the article "a#"
    assert "a#" not in text
    assert "z'i@roU" in text
    assert "f'o@" in text
    assert "t'u:" in text
    assert "f'o@ti" not in text  # never "forty"
    assert "'aI" in phonemes(Announcement("I7", "1"), "en")  # stressed letter I


@needs_espeak
def test_urdu_letters_and_digits_are_separate_words() -> None:
    text = phonemes(Announcement("QU42", "3"), "ur")
    assert "kj'u:" in text  # Q, not "keo"
    assert "j'u:" in text  # U, not "yo"
    assert "c'a:R" in text  # char
    assert "d'o:" in text  # do
    assert "b'a:" not in text  # not "bayalis" (42)


# --- audio --------------------------------------------------------------------------------


def test_chime_is_a_short_mono_wav(announcer: Announcer) -> None:
    path = announcer.chime()
    params, frames = read_wav(path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, SAMPLE_RATE)
    assert 0.5 < duration(path) < 2.0
    samples = [int.from_bytes(frames[i : i + 2], "little", signed=True) for i in range(0, 4000, 2)]
    assert max(abs(s) for s in samples) > 5000
    assert announcer.chime() == path


@needs_espeak
def test_announcement_is_chime_then_speech(announcer: Announcer) -> None:
    path = announcer.audio_for(CALL)
    params, frames = read_wav(path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, SAMPLE_RATE)
    _, chime = read_wav(announcer.chime())
    assert frames.startswith(chime)
    # chime, then two languages of several words each
    assert duration(path) > duration(announcer.chime()) + 4.0
    assert path.parent == announcer.cache_dir


@needs_espeak
def test_cache_hit_does_not_run_espeak_again(announcer: Announcer, espeak_calls: list[list[str]]) -> None:
    first = announcer.audio_for(CALL)
    assert voices_of(espeak_calls) == ["ur", "en"]
    mtime = first.stat().st_mtime_ns
    espeak_calls.clear()
    second = announcer.audio_for(Announcement("A042", "3"))
    assert second == first
    assert espeak_calls == []
    assert second.stat().st_mtime_ns == mtime
    # A fresh announcer (another worker) over the same cache also reuses it.
    assert Announcer(announcer.cache_dir).audio_for(CALL) == first
    assert espeak_calls == []


@needs_espeak
def test_kinds_produce_different_audio(announcer: Announcer) -> None:
    paths = [announcer.audio_for(a) for a in (CALL, RECALL, COLLECTION)]
    assert len(set(paths)) == 3
    assert len({read_wav(p)[1] for p in paths}) == 3
    assert duration(paths[1]) > duration(paths[0])  # "again" is extra
    assert announcer.audio_for(Announcement("A042", "4")) not in paths


@needs_espeak
def test_language_order_and_subset(tmp_path: Path, espeak_calls: list[list[str]]) -> None:
    english_only = Announcer(tmp_path / "cache", langs=("en",))
    both = Announcer(tmp_path / "cache", langs=("en", "ur"))
    assert english_only.audio_for(CALL) != both.audio_for(CALL)
    assert voices_of(espeak_calls) == ["en", "en", "ur"]
    assert duration(english_only.audio_for(CALL)) < duration(both.audio_for(CALL))


@needs_espeak
def test_concurrent_requests_render_once(announcer: Announcer, espeak_calls: list[list[str]]) -> None:
    barrier = threading.Barrier(8)
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(announcer.audio_for(Announcement("C007", "12")))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(results) == 8
    assert len(set(results)) == 1
    params, _ = read_wav(results[0])
    assert params.nframes > 0
    assert voices_of(espeak_calls) == ["ur", "en"]
    assert [p.name for p in announcer.cache_dir.iterdir() if p.name.startswith(".tmp")] == []


# --- recorded voices ----------------------------------------------------------------------


def test_complete_recorded_voice_replaces_espeak(tmp_path: Path, espeak_calls: list[list[str]]) -> None:
    voice = make_voice(tmp_path / "voice", "en")
    announcer = Announcer(tmp_path / "cache", voice_dir=voice, langs=("en",), espeak=MISSING_ESPEAK)
    assert announcer.available()
    path = announcer.audio_for(CALL)
    assert espeak_calls == []
    params, frames = read_wav(path)
    assert (params.nchannels, params.framerate) == (1, SAMPLE_RATE)  # converted from 16 kHz stereo
    _, chime = read_wav(announcer.chime())
    assert frames.startswith(chime)
    # 7 trimmed clips of ~0.13 s plus gaps, after the chime
    speech = duration(path) - duration(announcer.chime())
    assert 1.0 < speech < 2.5


def test_recorded_voice_without_sox_is_converted_in_python(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice", "en", rate=44100, channels=2)
    with_sox = Announcer(tmp_path / "a", voice_dir=voice, langs=("en",), espeak=MISSING_ESPEAK)
    without = Announcer(tmp_path / "b", voice_dir=voice, langs=("en",), espeak=MISSING_ESPEAK, sox=None)
    d1, d2 = duration(with_sox.audio_for(CALL)), duration(without.audio_for(CALL))
    assert abs(d1 - d2) < 0.05
    assert read_wav(without.audio_for(CALL))[0].framerate == SAMPLE_RATE


@needs_espeak
def test_recorded_voice_for_one_language_espeak_for_the_other(
    tmp_path: Path, espeak_calls: list[list[str]]
) -> None:
    voice = make_voice(tmp_path / "voice", "en")
    announcer = Announcer(tmp_path / "cache", voice_dir=voice)
    announcer.audio_for(CALL)
    assert voices_of(espeak_calls) == ["ur"]


@needs_espeak
def test_incomplete_recorded_voice_is_ignored(tmp_path: Path, espeak_calls: list[list[str]]) -> None:
    voice = make_voice(tmp_path / "voice", "en")
    (voice / "en" / "digit_4.wav").unlink()
    announcer = Announcer(tmp_path / "cache", voice_dir=voice, langs=("en",))
    announcer.audio_for(CALL)  # needs digit_4
    assert voices_of(espeak_calls) == ["en"]
    espeak_calls.clear()
    announcer.audio_for(Announcement("A1", "3"))  # does not need digit_4
    assert espeak_calls == []


def test_replacing_a_clip_changes_the_cached_file(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice", "en")
    announcer = Announcer(tmp_path / "cache", voice_dir=voice, langs=("en",), espeak=MISSING_ESPEAK)
    before = announcer.audio_for(CALL)
    write_tone(voice / "en" / "token.wav", seconds=0.3, freq=500, rate=16000, channels=1)
    after = announcer.audio_for(CALL)
    assert after != before
    assert duration(after) > duration(before)


def test_missing_espeak_and_incomplete_voice_is_a_clear_error(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice", "en")
    (voice / "en" / "counter.wav").unlink()
    announcer = Announcer(tmp_path / "cache", voice_dir=voice, langs=("en",), espeak=MISSING_ESPEAK)
    assert not announcer.available()
    with pytest.raises(AnnouncerUnavailableError, match="espeak-ng"):
        announcer.audio_for(CALL)
    no_voice = Announcer(tmp_path / "cache", espeak=MISSING_ESPEAK)
    assert not no_voice.available()
    with pytest.raises(AnnouncerUnavailableError):
        no_voice.audio_for(CALL)


@needs_espeak
def test_available_with_espeak(announcer: Announcer) -> None:
    assert announcer.available()


def test_prune_cache_keeps_recent_files_and_the_chime(tmp_path: Path) -> None:
    voice = make_voice(tmp_path / "voice", "en")
    announcer = Announcer(tmp_path / "cache", voice_dir=voice, langs=("en",), espeak=MISSING_ESPEAK)
    chime = announcer.chime()
    path = announcer.audio_for(CALL)
    assert announcer.prune_cache(3600) == 0
    assert announcer.prune_cache(-1) == 1
    assert not path.exists()
    assert chime.exists()


def test_audio_for_refuses_non_announcements(announcer: Announcer) -> None:
    bad: Callable[[Any], Path] = announcer.audio_for
    with pytest.raises(TypeError):
        bad(("../../etc", "3"))


# --- trimming and running the speech programs --------------------------------------------


@pytest.mark.parametrize(
    ("lead", "tail", "zeros"),
    [(0, 0, 0), (1, 1, 0), (255, 257, 0), (256, 256, 0), (3000, 11025, 0), (40, 60, 7000), (0, 0, 300)],
)
def test_trim_keeps_the_loud_part_and_a_margin(lead: int, tail: int, zeros: int) -> None:
    """Near-silence around the loud part, and (``zeros``) exact silence around that, as
    espeak-ng pads its speech; then the loud part starts with a sample whose first byte is
    zero (1024: bytes 00 04) and the tail ends with one whose last byte is (100: 64 00)."""
    margin = round(announce._TRIM_MARGIN_S * SAMPLE_RATE)
    quiet, loud = [100, -100], [0, 5000, -300, 0, -4000]  # under and over the threshold
    if zeros:
        loud = [1024, *loud[1:-1], 2048]
    samples = (
        [0] * zeros
        + [quiet[i % 2] for i in range(lead)]
        + loud
        + [quiet[(i + tail + 1) % 2] for i in range(tail)]  # (ends with 100, when there is a tail)
        + [0] * (zeros + 3)
    )
    frames = array.array("h", samples).tobytes()
    kept = array.array("h", announce._trim(frames)).tolist()
    first, last = (zeros + lead, zeros + lead + 4) if zeros else (lead + 1, lead + 4)  # over the threshold
    assert kept == samples[max(first - margin, 0) : min(last + 1 + margin, len(samples))]


def test_trim_of_silence_is_empty() -> None:
    assert announce._trim(array.array("h", [200, -200] * 1000).tobytes()) == b""
    assert announce._trim(array.array("h", [0] * 500 + [200, -200] * 10 + [0] * 500).tobytes()) == b""
    assert announce._trim(bytes(1000)) == b""


def fake_program(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-espeak-ng"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_a_failing_espeak_is_a_clear_error(tmp_path: Path) -> None:
    exe = fake_program(
        tmp_path, 'case "$1" in --version) echo "eSpeak NG fake";; *) echo "voice ur missing" >&2; exit 3;; esac'
    )
    speaker = Announcer(tmp_path / "cache", espeak=exe)
    with pytest.raises(AnnouncementError, match=r"exited with 3 for 'ur': voice ur missing"):
        speaker.audio_for(CALL)
    assert list((tmp_path / "cache").glob("*.wav")) == []


@pytest.mark.parametrize(
    ("then", "error"),
    [("exec sleep 30", "longer than 0.3 s"), ("exec >&- 2>&- sleep 30", "did not exit after closing its output")],
)
def test_a_hung_program_is_killed_at_its_timeout(tmp_path: Path, then: str, error: str) -> None:
    started = tmp_path / "started"
    exe = fake_program(tmp_path, f"echo $$ > {started}; {then}")
    with pytest.raises(TimeoutError, match=error):
        announce._run_program([exe], timeout=0.3)
    pid = int(started.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped, not left running or a zombie


def test_a_program_gets_no_input_its_own_output_and_none_of_the_servers_sockets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = socket.socket()
    listener.set_inheritable(True)  # as gunicorn's listening socket is, before the app runs
    monkeypatch.setattr(announce, "_inherited", None)  # (listed once per process: list afresh)
    try:
        exe = fake_program(tmp_path, "cat; echo out; echo err >&2; ls -l /proc/$$/fd; exit 4")
        ran = announce._run_program([exe], timeout=10)
    finally:
        listener.close()
    assert ran.returncode == 4
    out = ran.output.decode()
    assert out.startswith("out\nerr\n")  # cat read nothing: the program's input is empty
    assert "pipe:" in out  # its descriptors are listed (its output pipe among them)
    assert "socket:" not in out
    assert "/dev/null" in out


def test_a_program_runs_when_the_server_holds_more_than_1024_descriptors(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1200, hard), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # (as a busy server's sockets)
    try:
        ran = announce._run_program([fake_program(tmp_path, "echo ok")], timeout=10)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert (ran.returncode, ran.output) == (0, b"ok\n")
