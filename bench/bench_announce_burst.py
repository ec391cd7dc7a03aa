"""How late each call of an 8-counter burst is heard on the hall display, under the old
first-in-first-out queue and under the burst policy of display/static/display/display.js.

Run: .venv/bin/python bench/bench_announce_burst.py [--spacing 0.1] [--bound 15]

The announcements are rendered for real (display.announce.Announcer with espeak-ng, the
chime, Urdu then English) and their WAV lengths measured; the display's queue is then
replayed on those lengths: 8 counters call A001..A008 ``--spacing`` seconds apart, the
display waits 0.3 s between announcements (as display.js does).

  fifo    every call said in order (the display before the policy; it also dropped the
          oldest beyond 6 waiting)
  policy  repeats merged, calls no longer current dropped (none in this burst: nobody is
          served while it plays), and a waiting call dropped while a newer one waits when it
          is older than the bound or saying it would start the newest later than the bound
          (the newest is always said)
Prints, per call: when it was made, when its announcement starts (heard) and ends, and
how late it is heard; or that it is not said. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from display.announce import Announcement, Announcer

GAP_S = 0.3  # display.js: setTimeout(pump, 300) after each announcement
MAX_QUEUED = 6  # display.js


def durations(n: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        announcer = Announcer(Path(tmp))
        out = []
        for i in range(n):
            path = announcer.audio_for(Announcement(f"A{i + 1:03d}", str(i + 1)))
            with wave.open(str(path)) as w:
                out.append(w.getnframes() / w.getframerate())
        return out


def replay(calls: list[tuple[float, float]], bound: float | None) -> list[tuple[float, float] | None]:
    """calls: (made at, length). Returns per call (start, end) or None when not said."""
    heard: list[tuple[float, float] | None] = [None] * len(calls)
    queue: list[int] = []
    clock = 0.0
    nxt = 0
    busy_until = 0.0
    while nxt < len(calls) or queue:
        # calls made before the display is free join the queue (oldest dropped beyond 6)
        while nxt < len(calls) and (calls[nxt][0] <= busy_until or not queue):
            queue.append(nxt)
            if bound is None:
                while len(queue) > MAX_QUEUED:
                    queue.pop(0)
            nxt += 1
        clock = max(busy_until, calls[queue[0]][0])
        if bound is not None:
            newest = calls[queue[-1]][0]
            queue = [
                q
                for i, q in enumerate(queue)
                if i == len(queue) - 1
                or (clock - calls[q][0] <= bound and clock + calls[q][1] + GAP_S - newest <= bound)
            ]
        item = queue.pop(0)
        start = max(clock, calls[item][0])
        heard[item] = (start, start + calls[item][1])
        busy_until = start + calls[item][1] + GAP_S
    return heard


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--spacing", type=float, default=0.1)
    parser.add_argument("--bound", type=float, default=15.0)
    args = parser.parse_args()
    lengths = durations(args.calls)
    calls = [(i * args.spacing, d) for i, d in enumerate(lengths)]
    print(
        f"{args.calls} calls {args.spacing:.2f} s apart; announcement lengths "
        f"{min(lengths):.1f}-{max(lengths):.1f} s (chime + Urdu + English)"
    )
    for name, bound in (("fifo", None), (f"policy (bound {args.bound:.0f} s)", args.bound)):
        print(f"\n{name}")
        print(f"  {'call':<6}{'made':>7}{'heard':>8}{'ends':>8}{'late':>8}")
        worst = 0.0
        for i, h in enumerate(replay(calls, bound)):
            made = calls[i][0]
            if h is None:
                print(f"  A{i + 1:03d} {made:7.1f}      not said (shown large when called)")
                continue
            worst = max(worst, h[0] - made)
            print(f"  A{i + 1:03d} {made:7.1f}{h[0]:8.1f}{h[1]:8.1f}{h[0] - made:8.1f}")
        print(f"  latest start behind its call: {worst:.1f} s")


if __name__ == "__main__":
    main()
