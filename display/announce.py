"""Spoken call announcements for the public display, generated on the server and offline.

An announcement is a chime followed by the same sentence in each configured language
(Urdu, then English by default), for example::

    ur: ٹوکن اے صفر چار دو، کاؤنٹر نمبر تین پر تشریف لائیں
    en: token A 0 4 2, counter 3

The token number is always spoken character by character ("A 0 4 2", never "A forty-two")
so it stays intelligible in a noisy hall; the counter label is spelled the same way, so
"12" is said "1 2" and "B 2" is said "B 2". Spaces and hyphens in a label are not spoken.

Speech comes from espeak-ng (voices ``ur`` and ``en``) unless the centre has recorded a
human voice. A recorded voice lives in ``<voice_dir>/<lang>/`` as one WAV clip per word
key; when every clip an announcement needs exists for a language, the clips are joined
instead of calling espeak-ng for that language. :func:`required_clip_names` lists every
file name a complete folder holds:

=========================  =====================================  ==========================
file                       English (``en/``)                      Urdu (``ur/``)
=========================  =====================================  ==========================
``token.wav``              "token"                                "ٹوکن"
``counter.wav``            "counter"                              "کاؤنٹر نمبر"
``again.wav``              "again" (start of a recall)            "دوبارہ"
``collect_documents.wav``  "please collect your documents at"     "سے اپنے کاغذات وصول کریں"
``please_come.wav``        (not used)                             "پر تشریف لائیں"
``letter_a.wav`` …         the letter names A … Z                 اے، بی، سی …
``letter_z.wav``
``digit_0.wav`` …          "zero" … "nine"                        صفر، ایک … نو
``digit_9.wav``
=========================  =====================================  ==========================

Clips may be any PCM WAV (sox converts other rates, channel counts and encodings; without
sox, 8/16/24/32-bit integer PCM is converted in Python). Leading and trailing silence is
trimmed and the announcer inserts its own uniform gaps, so clips need no careful editing.

Every announcement is rendered once and cached as a 22050 Hz mono 16-bit WAV whose name
contains a hash of what was said and which voice said it, so replacing a clip or
upgrading espeak-ng produces a new file rather than serving a stale one.

Size: the announcement pipeline (phrases in both languages, speech rendering, the cache, the
burst policy) shares one phrase format.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import json
import math
import os
import re
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape

__all__ = [
    "CHANNELS",
    "SAMPLE_RATE",
    "SAMPLE_WIDTH",
    "SUPPORTED_LANGS",
    "Announcement",
    "AnnouncementError",
    "AnnouncementKind",
    "Announcer",
    "AnnouncerUnavailableError",
    "clip_keys",
    "required_clip_names",
    "speech_markup",
    "spoken_text",
    "spoken_words",
]

SAMPLE_RATE = 22050
SAMPLE_WIDTH = 2  # bytes: signed 16-bit PCM
CHANNELS = 1
SUPPORTED_LANGS: tuple[str, ...] = ("ur", "en")

# Bump when the rendering changes so that old cached files are not served any more.
_RENDER_VERSION = 1
_ESPEAK_TIMEOUT_S = 20.0
_SOX_TIMEOUT_S = 20.0
_ESPEAK_RATE_WPM = 150  # a little slower than espeak's 175: halls echo.

_GAP_AFTER_CHIME_S = 0.35
_GAP_BETWEEN_LANGS_S = 0.7
_GAP_TAIL_S = 0.25
_GAP_BETWEEN_CLIPS_S = 0.08
_GAP_AFTER_PHRASE_S = 0.3  # where the written text has a comma
_CODE_BREAK_MS = 120  # espeak pause between spelled characters
_PHRASE_BREAK_MS = 300

_SILENCE_THRESHOLD = 328  # about 1 % of full scale
_TRIM_MARGIN_S = 0.015
_TRIM_BLOCK = 256  # samples looked at together when trimming

_NUMBER_RE = re.compile(r"[A-Z]{1,2}[0-9]{1,4}")
_COUNTER_RE = re.compile(r"[A-Za-z0-9 -]{1,12}")


class AnnouncementKind(StrEnum):
    """What the announcement asks the visitor to do."""

    CALL = "call"
    RECALL = "recall"  # the same call repeated because nobody came
    COLLECTION = "collection"  # come and collect finished documents


@dataclass(frozen=True)
class Announcement:
    """One thing to say on the display.

    Refuses (``ValueError``) a number that is not one or two capital letters followed by one
    to four ASCII digits (``A042``), a counter label that is not 1-12 ASCII letters, digits,
    spaces or hyphens with at least one letter or digit, and an unknown kind. Input reaches
    file names and speech markup, so nothing else gets through.
    """

    number: str
    counter: str
    kind: AnnouncementKind = AnnouncementKind.CALL

    def __post_init__(self) -> None:
        if not isinstance(self.number, str) or not _NUMBER_RE.fullmatch(self.number):
            raise ValueError(f"invalid token number {self.number!r}: expected e.g. 'A042'")
        if (
            not isinstance(self.counter, str)
            or not _COUNTER_RE.fullmatch(self.counter)
            or not any(ch.isalnum() for ch in self.counter)
        ):
            raise ValueError(f"invalid counter label {self.counter!r}: expected e.g. '3'")
        try:
            kind = AnnouncementKind(self.kind)
        except ValueError:
            raise ValueError(f"invalid announcement kind {self.kind!r}") from None
        object.__setattr__(self, "kind", kind)


class AnnouncementError(RuntimeError):
    """Audio for an announcement could not be produced."""


class AnnouncerUnavailableError(AnnouncementError):
    """Neither espeak-ng nor a complete recorded voice is available for a language."""


# --- vocabulary --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Word:
    key: str  # stable ASCII clip key: <voice_dir>/<lang>/<key>.wav
    text: str  # as written in spoken_words()
    markup: str  # what espeak-ng is given (SSML fragment)
    is_spelled: bool = False  # a letter or digit of a code, separated by a short pause
    is_phrase_end: bool = False  # a comma follows in the written text


_LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = tuple("0123456789")

_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "token": "token",
        "counter": "counter",
        "again": "again",
        "collect_documents": "please collect your documents at",
    },
    "ur": {
        "token": "ٹوکن",
        "counter": "کاؤنٹر نمبر",
        "again": "دوبارہ",
        "collect_documents": "سے اپنے کاغذات وصول کریں",
        "please_come": "پر تشریف لائیں",
    },
}

# Letter names as Urdu speakers say them. The zabar/pesh marks steer espeak-ng's Urdu
# voice: without them Q, U and W come out as "keo", "yo" and "dableo" (checked with -x).
_UR_LETTER_NAMES = (
    "اے", "بی", "سی", "ڈی", "ای", "ایف", "جی", "ایچ", "آئی", "جے", "کے", "ایل", "ایم",
    "این", "او", "پی", "کیُو", "آر", "ایس", "ٹی", "یُو", "وی", "ڈبلیُو", "ایکس", "وائی", "زیڈ",
)  # fmt: skip
_UR_DIGIT_NAMES = ("صفر", "ایک", "دو", "تین", "چار", "پانچ", "چھ", "سات", "آٹھ", "نو")
_EN_DIGIT_NAMES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip


def _letter(lang: str, ch: str) -> _Word:
    key = f"letter_{ch.lower()}"
    if lang == "en":
        # Bare "A" is read as the article ("uh") and "I" unstressed; say-as spells them.
        return _Word(key, ch, f'<say-as interpret-as="characters">{ch}</say-as>', True)
    name = _UR_LETTER_NAMES[_LETTERS.index(ch)]
    return _Word(key, name, escape(name), True)


def _digit(lang: str, ch: str) -> _Word:
    key = f"digit_{ch}"
    if lang == "en":
        return _Word(key, ch, _EN_DIGIT_NAMES[int(ch)], True)
    name = _UR_DIGIT_NAMES[int(ch)]
    return _Word(key, name, escape(name), True)


def _phrase(lang: str, key: str, *, is_phrase_end: bool = False) -> _Word:
    text = _PHRASES[lang][key]
    return _Word(key, text, escape(text), is_phrase_end=is_phrase_end)


def _spelled(lang: str, code: str) -> list[_Word]:
    words: list[_Word] = []
    for ch in code.upper():
        if ch in _DIGITS:
            words.append(_digit(lang, ch))
        elif ch in _LETTERS:
            words.append(_letter(lang, ch))
        # spaces and hyphens are layout, not speech
    return words


def _check_lang(lang: str) -> None:
    if lang not in SUPPORTED_LANGS:
        raise ValueError(f"unsupported language {lang!r}; expected one of {SUPPORTED_LANGS}")


def _words(a: Announcement, lang: str) -> list[_Word]:
    _check_lang(lang)
    number = _spelled(lang, a.number)
    number[-1] = _with_phrase_end(number[-1])
    counter = [_phrase(lang, "counter"), *_spelled(lang, a.counter)]
    words: list[_Word] = []
    if a.kind is AnnouncementKind.RECALL:
        words.append(_phrase(lang, "again", is_phrase_end=True))
    words += [_phrase(lang, "token"), *number]
    if a.kind is AnnouncementKind.COLLECTION:
        if lang == "en":
            words += [_phrase(lang, "collect_documents"), *counter]
        else:
            words += [*counter, _phrase(lang, "collect_documents")]
    else:
        words += counter
        if lang == "ur":
            words.append(_phrase(lang, "please_come"))
    return words


def _with_phrase_end(word: _Word) -> _Word:
    return _Word(word.key, word.text, word.markup, word.is_spelled, is_phrase_end=True)


def spoken_words(a: Announcement, lang: str) -> list[str]:
    """The words said for ``a`` in ``lang`` (``"ur"`` or ``"en"``), in order.

    Each item is one recorded clip: a letter, a digit or a short fixed phrase, e.g.
    ``["token", "A", "0", "4", "2", "counter", "3"]``. Refuses other languages.
    """
    return [w.text for w in _words(a, lang)]


def spoken_text(a: Announcement, lang: str) -> str:
    """The announcement as one line of text, e.g. ``"token A 0 4 2, counter 3"``."""
    comma = "،" if lang == "ur" else ","
    return " ".join(w.text + (comma if w.is_phrase_end else "") for w in _words(a, lang))


def clip_keys(a: Announcement, lang: str) -> list[str]:
    """The recorded-clip keys (file names without ``.wav``) that ``a`` needs in ``lang``."""
    return [w.key for w in _words(a, lang)]


def speech_markup(a: Announcement, lang: str) -> str:
    """The SSML given to ``espeak-ng -m`` for ``a`` in ``lang``."""
    parts: list[str] = []
    words = _words(a, lang)
    for i, w in enumerate(words):
        parts.append(w.markup)
        if i == len(words) - 1:
            break
        if w.is_phrase_end:
            parts.append(f'<break time="{_PHRASE_BREAK_MS}ms"/>')
        elif w.is_spelled and words[i + 1].is_spelled:
            parts.append(f'<break time="{_CODE_BREAK_MS}ms"/>')
        else:
            parts.append(" ")
    return "<speak>" + "".join(parts) + "</speak>"


def required_clip_names(lang: str) -> list[str]:
    """Every file name a complete recorded voice folder ``<voice_dir>/<lang>/`` holds.

    ``token.wav``, ``counter.wav``, ``again.wav``, ``collect_documents.wav``, (Urdu only)
    ``please_come.wav``, ``letter_a.wav`` … ``letter_z.wav`` and ``digit_0.wav`` …
    ``digit_9.wav``. Refuses languages other than ``"ur"`` and ``"en"``.
    """
    _check_lang(lang)
    keys = [
        *_PHRASES[lang],
        *(f"letter_{ch.lower()}" for ch in _LETTERS),
        *(f"digit_{ch}" for ch in _DIGITS),
    ]
    return [f"{key}.wav" for key in keys]


# --- PCM helpers (22050 Hz mono signed 16-bit, little-endian bytes) ------------------------


def _silence(seconds: float) -> bytes:
    return b"\x00\x00" * round(seconds * SAMPLE_RATE)


def _to_samples(frames: bytes) -> array.array[int]:
    samples = array.array("h")
    samples.frombytes(frames)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _to_frames(samples: array.array[int]) -> bytes:
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def _trim(frames: bytes) -> bytes:
    """Drop leading and trailing near-silence, keeping a few milliseconds of margin.

    espeak-ng pads its speech with exact silence (a sixth of a call's samples, at the end):
    those samples are skipped first by ``bytes.lstrip``/``rstrip`` (C loops over zero bytes;
    a sample is two, so half the count, rounded down, are whole zero samples), and only
    the rest is scanned. Zero is never loud, so the result is the same."""
    samples = _to_samples(frames)
    lead = (len(frames) - len(frames.lstrip(b"\x00"))) // 2
    tail = (len(frames) - len(frames.rstrip(b"\x00"))) // 2
    inner = samples[lead : len(samples) - tail]
    first = _first_loud(inner, forward=True)
    if first is None:
        return b""
    last = _first_loud(inner, forward=False)
    assert last is not None
    first, last = first + lead, last + lead
    margin = round(_TRIM_MARGIN_S * SAMPLE_RATE)
    start = max(first - margin, 0)
    end = min(last + 1 + margin, len(samples))
    return _to_frames(samples[start:end])


def _first_loud(samples: array.array[int], *, forward: bool) -> int | None:
    """The index of the first sample louder than the threshold, scanning from the start or
    from the end. This runs after every call, in the server process: it looks at blocks
    with ``max`` and ``min`` (C loops) and at single samples only inside the loud block
    (espeak-ng ends with half a second of silence: a sample-by-sample scan of it held the
    GIL for a millisecond)."""
    n = len(samples)
    starts = range(0, n, _TRIM_BLOCK) if forward else range((n - 1) // _TRIM_BLOCK * _TRIM_BLOCK, -1, -_TRIM_BLOCK)
    for block_start in starts:
        block = samples[block_start : block_start + _TRIM_BLOCK]
        if max(block) > _SILENCE_THRESHOLD or min(block) < -_SILENCE_THRESHOLD:
            offsets = range(len(block)) if forward else range(len(block) - 1, -1, -1)
            return block_start + next(i for i in offsets if abs(block[i]) > _SILENCE_THRESHOLD)
    return None


def _decode_pcm(raw: bytes, width: int, channels: int) -> list[float]:
    """Integer PCM frames to mono floats in [-1, 1)."""
    if width == 1:
        values = [(b - 128) / 128 for b in raw]
    elif width in (2, 4):
        samples = array.array("h" if width == 2 else "i")
        samples.frombytes(raw[: len(raw) - len(raw) % width])
        if sys.byteorder == "big":
            samples.byteswap()
        scale = float(1 << (8 * width - 1))
        values = [s / scale for s in samples]
    elif width == 3:
        values = [
            int.from_bytes(raw[i : i + 3], "little", signed=True) / 8388608.0
            for i in range(0, len(raw) - 2, 3)
        ]
    else:
        raise AnnouncementError(f"unsupported WAV sample width: {width} bytes")
    if channels == 1:
        return values
    return [
        sum(values[i : i + channels]) / channels
        for i in range(0, len(values) - channels + 1, channels)
    ]


def _resample(values: list[float], rate: int) -> list[float]:
    """Linear interpolation: adequate for speech clips, and needs nothing outside stdlib."""
    if rate == SAMPLE_RATE or len(values) < 2:
        return values
    n_out = max(round(len(values) * SAMPLE_RATE / rate), 1)
    step = (len(values) - 1) / max(n_out - 1, 1)
    out: list[float] = []
    for i in range(n_out):
        pos = i * step
        j = min(int(pos), len(values) - 2)
        frac = pos - j
        out.append(values[j] * (1 - frac) + values[j + 1] * frac)
    return out


def _encode(values: Sequence[float]) -> bytes:
    return _to_frames(array.array("h", (max(-32768, min(32767, round(v * 32767))) for v in values)))


def _write_wav_atomic(path: Path, frames: bytes) -> None:
    """Write a complete WAV next to ``path`` and rename it into place.

    A reader (another thread, another worker process, the web server) sees either no
    file or a whole one, never a half-written one.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".wav")
    try:
        with os.fdopen(fd, "wb") as fh:
            with wave.open(fh, "wb") as out:
                out.setnchannels(CHANNELS)
                out.setsampwidth(SAMPLE_WIDTH)
                out.setframerate(SAMPLE_RATE)
                out.writeframes(frames)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; a front web server may serve it
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _read_frames(path: Path) -> bytes:
    """The frames of a WAV already in the target format."""
    with wave.open(str(path), "rb") as wav:
        if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (
            CHANNELS,
            SAMPLE_WIDTH,
            SAMPLE_RATE,
        ):
            raise AnnouncementError(f"{path} is not {SAMPLE_RATE} Hz mono 16-bit")
        return wav.readframes(wav.getnframes())


# --- running espeak-ng and sox --------------------------------------------------------------


@dataclass(frozen=True)
class _Ran:
    returncode: int | None  # None: another waiter reaped the program (judge it by its output)
    output: bytes  # what it wrote to its standard output and error, together


def _run_program(argv: Sequence[str], *, timeout: float) -> _Ran:
    """Run ``argv`` with no input, collect what it writes, and wait for it to exit.

    The program is started with :func:`os.posix_spawn`, which costs the server a vfork and
    not a copy of its memory: under gevent, ``subprocess`` is gevent's, which forks the
    whole server (about 10 ms of a worker's CPU per call, two runs). Its output is read
    through a pipe until it closes, with ``poll`` (gevent's, under gevent), so a gevent
    worker's other greenlets run meanwhile and a thread waits without the GIL. Raises
    :class:`OSError` when the program cannot start and :class:`TimeoutError` (after
    killing it) when it runs longer than ``timeout`` seconds. Like ``subprocess``, it keeps
    the server's descriptors from the program (gunicorn's listening socket is inheritable).
    """
    deadline = time.monotonic() + timeout
    readable, writable = os.pipe()
    try:
        pid = os.posix_spawn(
            argv[0],
            list(argv),
            os.environ,
            file_actions=[
                *((os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_descriptors()),
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, writable, 1),
                (os.POSIX_SPAWN_DUP2, writable, 2),
            ],
        )
    except BaseException:
        os.close(readable)
        raise
    finally:
        os.close(writable)
    with os.fdopen(readable, "rb", buffering=0) as output:
        chunks = _read_until_closed(output, deadline)
    if chunks is None:
        _kill(pid)
        raise TimeoutError(f"{argv[0]} ran longer than {timeout:g} s")
    return _Ran(_exit_status(pid, deadline), b"".join(chunks))


def _read_until_closed(pipe: IO[bytes], deadline: float) -> list[bytes] | None:
    """What comes through ``pipe`` until its writer closes it; None at ``deadline``."""
    chunks: list[bytes] = []
    waiting = select.poll()  # (not select.select: a server's descriptors pass 1024)
    waiting.register(pipe, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not waiting.poll(left * 1000):
            return None
        chunk = pipe.read(65536)
        if not chunk:
            return chunks
        chunks.append(chunk)


def _exit_status(pid: int, deadline: float) -> int | None:
    """The exit code of a program that has closed its output: it exits then, a moment
    later, so this looks again after a millisecond, then two … (a blocking ``waitpid``
    would stop a gevent worker's hub if it did not). Raises :class:`TimeoutError`, after
    killing it, when it is still there at ``deadline``."""
    pause = 0.001
    while True:
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None  # gevent's child watcher reaped it first
        if reaped:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            _kill(pid)
            raise TimeoutError(f"program {pid} did not exit after closing its output")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


_inherited: tuple[int, tuple[int, ...]] | None = None  # (process id, its descriptors listed)


def _inheritable_descriptors() -> tuple[int, ...]:
    """This process's descriptors above stderr that a program it starts would inherit.

    Listed once per process: Python makes every descriptor non-inheritable, so these are
    the few made so on purpose before the server ran (gunicorn's listening sockets), and a
    gevent worker holding 2,000 sockets took 2.5 ms to list them, twice per call."""
    global _inherited
    if _inherited is None or _inherited[0] != os.getpid():  # (a forked process lists its own)
        found = []
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                if fd > 2 and os.get_inheritable(fd):
                    found.append(fd)
            except OSError:
                pass  # closed since (the listing's own descriptor among them)
        _inherited = (os.getpid(), tuple(found))
    return _inherited[1]


# --- chime ---------------------------------------------------------------------------------

# A "ding-dong": E5 then C5, each a bell-like tone (fundamental plus soft overtones) with a
# quick attack and exponential decay, the second note starting as the first fades.
_CHIME_NOTES: tuple[tuple[float, float, float], ...] = (
    # (start s, frequency Hz, length s)
    (0.0, 659.25, 0.6),
    (0.35, 523.25, 0.8),
)
_CHIME_PEAK = 0.55


def _synth_chime() -> bytes:
    total = max(start + length for start, _, length in _CHIME_NOTES)
    n = round(total * SAMPLE_RATE)
    mix = [0.0] * n
    attack = 0.008
    for start, freq, length in _CHIME_NOTES:
        first = round(start * SAMPLE_RATE)
        for i in range(round(length * SAMPLE_RATE)):
            t = i / SAMPLE_RATE
            envelope = min(t / attack, 1.0) * math.exp(-t / 0.28)
            # Fade the last 50 ms to zero so the note ends without a click.
            envelope *= min((length - t) / 0.05, 1.0)
            tone = (
                math.sin(2 * math.pi * freq * t)
                + 0.35 * math.sin(2 * math.pi * 2 * freq * t)
                + 0.12 * math.sin(2 * math.pi * 3 * freq * t)
            )
            if first + i < n:
                mix[first + i] += envelope * tone
    peak = max(abs(v) for v in mix) or 1.0
    return _encode([v * _CHIME_PEAK / peak for v in mix])


# --- the announcer ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    lang: str
    clips: tuple[Path, ...] | None  # recorded clips to join, or None for espeak-ng
    fingerprint: str


class Announcer:
    """Renders and caches announcement audio.

    Thread-safe: concurrent requests for the same announcement render it once; other
    announcements render in parallel. Files are written atomically, so several worker
    processes may share ``cache_dir`` (at worst two render the same file and one rename
    wins). Generation takes a fraction of a second, so call :meth:`audio_for` as soon as a
    call is committed rather than when the display first asks for it.
    """

    _LOCK_STRIPES = 64

    def __init__(
        self,
        cache_dir: Path,
        voice_dir: Path | None = None,
        langs: tuple[str, ...] = ("ur", "en"),
        espeak: str = "espeak-ng",
        *,
        sox: str | None = "sox",
    ) -> None:
        if not langs:
            raise ValueError("at least one language is required")
        for lang in langs:
            _check_lang(lang)
        self.cache_dir = Path(cache_dir)
        self.voice_dir = Path(voice_dir) if voice_dir is not None else None
        self.langs = tuple(langs)
        self.espeak = espeak
        self.sox = sox
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._locks = [threading.Lock() for _ in range(self._LOCK_STRIPES)]
        self._state_lock = threading.Lock()
        self._espeak_id: str | None = None
        self._chime_frames: bytes | None = None
        self._chime_file_lock = threading.Lock()

    # public -------------------------------------------------------------------------------

    def available(self) -> bool:
        """Whether every configured language can be spoken, by espeak-ng or a full folder."""
        if self._espeak_path() is not None:
            return True
        return all(self._has_complete_voice(lang) for lang in self.langs)

    def chime(self) -> Path:
        """The two-tone chime as a WAV file in the cache directory (made on first use)."""
        path = self.cache_dir / f"chime-v{_RENDER_VERSION}.wav"
        frames = self._chime()
        if not path.is_file():
            with self._chime_file_lock:
                if not path.is_file():
                    _write_wav_atomic(path, frames)
        return path

    def audio_for(self, a: Announcement) -> Path:
        """The WAV for ``a``: chime, then each language in order, with short gaps.

        Returns the cached file when one exists for the same words and voice. Raises
        :class:`AnnouncerUnavailableError` when a language has neither espeak-ng nor a
        complete recorded voice, and :class:`AnnouncementError` when synthesis fails.
        """
        if not isinstance(a, Announcement):
            raise TypeError(f"expected an Announcement, got {type(a).__name__}")
        plans = [self._plan(a, lang) for lang in self.langs]
        key = json.dumps(
            [
                _RENDER_VERSION,
                str(a.kind),
                a.number,
                a.counter,
                list(self.langs),
                [p.fingerprint for p in plans],
            ]
        )
        digest = hashlib.sha256(key.encode()).hexdigest()
        path = self.cache_dir / f"{a.kind}-{a.number}-{digest[:24]}.wav"
        if path.is_file():
            return path
        with self._locks[int(digest[:8], 16) % self._LOCK_STRIPES]:
            if path.is_file():
                return path
            frames = self._render(a, plans)
            _write_wav_atomic(path, frames)
        return path

    def prune_cache(self, max_age_s: float) -> int:
        """Delete cached announcements older than ``max_age_s`` seconds; return how many."""
        cutoff = time.time() - max_age_s
        removed = 0
        for path in self.cache_dir.glob("*.wav"):
            if path.name.startswith("chime-"):
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass  # another process pruned it first
        return removed

    # planning ---------------------------------------------------------------------------

    def _espeak_path(self) -> str | None:
        return shutil.which(self.espeak)

    def _sox_path(self) -> str | None:
        return shutil.which(self.sox) if self.sox else None

    def _has_complete_voice(self, lang: str) -> bool:
        if self.voice_dir is None:
            return False
        folder = self.voice_dir / lang
        return all((folder / name).is_file() for name in required_clip_names(lang))

    def _plan(self, a: Announcement, lang: str) -> _Plan:
        if self.voice_dir is not None:
            folder = self.voice_dir / lang
            clips = tuple(folder / f"{key}.wav" for key in clip_keys(a, lang))
            try:
                stats = [(c.name, st.st_size, st.st_mtime_ns) for c in clips if (st := c.stat())]
            except OSError:
                stats = None  # incomplete: fall back to espeak-ng for this language
            if stats is not None:
                fingerprint = hashlib.sha256(
                    json.dumps([str(folder.resolve()), stats]).encode()
                ).hexdigest()
                return _Plan(lang, clips, f"recorded:{fingerprint}")
        espeak_id = self._espeak_identity()
        if espeak_id is None:
            raise AnnouncerUnavailableError(
                f"cannot speak {lang!r}: espeak-ng ({self.espeak!r}) is not installed and "
                f"{self.voice_dir / lang if self.voice_dir else 'no voice folder'} lacks "
                f"some of the clips {clip_keys(a, lang)}"
            )
        return _Plan(lang, None, f"espeak:{espeak_id}:{_ESPEAK_RATE_WPM}")

    def _espeak_identity(self) -> str | None:
        """espeak-ng's version line, asked once; None when the binary is missing."""
        exe = self._espeak_path()
        if exe is None:
            return None
        with self._state_lock:
            if self._espeak_id is None:
                try:
                    done = _run_program([exe, "--version"], timeout=_ESPEAK_TIMEOUT_S)
                except OSError as exc:  # TimeoutError included
                    raise AnnouncementError(f"espeak-ng --version failed: {exc}") from exc
                if done.returncode not in (0, None) or not done.output.strip():
                    raise AnnouncementError(f"espeak-ng --version exited with {done.returncode}")
                self._espeak_id = done.output.decode("utf-8", "replace").strip()
            return self._espeak_id

    # rendering --------------------------------------------------------------------------

    def _chime(self) -> bytes:
        with self._state_lock:
            if self._chime_frames is None:
                self._chime_frames = _synth_chime()
            return self._chime_frames

    def _render(self, a: Announcement, plans: Sequence[_Plan]) -> bytes:
        parts = [self._chime(), _silence(_GAP_AFTER_CHIME_S)]
        for i, plan in enumerate(plans):
            if i:
                parts.append(_silence(_GAP_BETWEEN_LANGS_S))
            if plan.clips is None:
                parts.append(self._speak(a, plan.lang))
            else:
                parts.append(self._join_clips(a, plan))
        parts.append(_silence(_GAP_TAIL_S))
        return b"".join(parts)

    def _speak(self, a: Announcement, lang: str) -> bytes:
        exe = self._espeak_path()
        if exe is None:
            raise AnnouncerUnavailableError(f"espeak-ng ({self.espeak!r}) is not installed")
        with tempfile.TemporaryDirectory(prefix="announce-") as tmp:
            out, markup = Path(tmp) / "speech.wav", Path(tmp) / "speech.ssml"
            markup.write_text(speech_markup(a, lang), encoding="utf-8")
            try:
                done = _run_program(
                    [exe, "-v", lang, "-s", str(_ESPEAK_RATE_WPM), "-m", "-w", str(out), "-f", str(markup)],
                    timeout=_ESPEAK_TIMEOUT_S,
                )
            except OSError as exc:  # TimeoutError included
                raise AnnouncementError(f"espeak-ng failed for {lang!r}: {exc}") from exc
            if done.returncode not in (0, None) or not out.is_file():
                err = done.output.decode("utf-8", "replace").strip()[-300:]
                raise AnnouncementError(
                    f"espeak-ng exited with {done.returncode} for {lang!r}: {err}"
                )
            frames = self._normalised(out)
        speech = _trim(frames)
        if not speech:
            raise AnnouncementError(f"espeak-ng produced silence for {lang!r}")
        return speech

    def _join_clips(self, a: Announcement, plan: _Plan) -> bytes:
        assert plan.clips is not None
        words = _words(a, plan.lang)
        parts: list[bytes] = []
        for i, (word, clip) in enumerate(zip(words, plan.clips, strict=True)):
            parts.append(_trim(self._normalised(clip)))
            if i < len(words) - 1:
                gap = _GAP_AFTER_PHRASE_S if word.is_phrase_end else _GAP_BETWEEN_CLIPS_S
                parts.append(_silence(gap))
        return b"".join(parts)

    def _normalised(self, path: Path) -> bytes:
        """The frames of any WAV converted to 22050 Hz mono 16-bit."""
        try:
            with wave.open(str(path), "rb") as wav:
                params = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
                raw = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError) as exc:
            # Float or WAVE_FORMAT_EXTENSIBLE files, which Python's wave cannot read.
            if self._sox_path() is None:
                raise AnnouncementError(f"cannot read {path}: {exc} (install sox)") from exc
            return self._sox_convert(path)
        except OSError as exc:
            raise AnnouncementError(f"cannot read {path}: {exc}") from exc
        if params == (CHANNELS, SAMPLE_WIDTH, SAMPLE_RATE):
            return raw
        if self._sox_path() is not None:
            return self._sox_convert(path)
        channels, width, rate = params
        return _encode(_resample(_decode_pcm(raw, width, channels), rate))

    def _sox_convert(self, path: Path) -> bytes:
        sox = self._sox_path()
        assert sox is not None
        with tempfile.TemporaryDirectory(prefix="announce-") as tmp:
            out = Path(tmp) / "clip.wav"
            cmd = [
                sox, str(path),
                "-r", str(SAMPLE_RATE), "-c", str(CHANNELS),
                "-b", "16", "-e", "signed-integer", str(out),
            ]  # fmt: skip
            try:
                done = _run_program(cmd, timeout=_SOX_TIMEOUT_S)
            except OSError as exc:  # TimeoutError included
                raise AnnouncementError(f"sox failed on {path}: {exc}") from exc
            if done.returncode not in (0, None) or not out.is_file():
                err = done.output.decode("utf-8", "replace").strip()[-300:]
                raise AnnouncementError(f"sox could not convert {path}: {err}")
            return _read_frames(out)
