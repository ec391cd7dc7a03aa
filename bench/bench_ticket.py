"""How long a ticket takes to render, per paper width, against the bare parts.

Run: .venv/bin/python bench/bench_ticket.py [--renders 200] [--artifacts artifacts]

Rows per width:
  floor      the bare parts measured in the same run: the QR image for the URL plus one
             Pillow draw of the token number, on a canvas of the ticket's size, made mode "1"
  warm       render_ticket with a new number, time and URL each time; the other texts are
             already cached, as on a kiosk that has been running for a while
  varied     as warm, but people-ahead and wait figures also vary (0-59 people, 0-199 min),
             so many of their Urdu lines are shaped for the first time
  cold       render_ticket with every text cache cleared first (a new service or centre;
             fonts stay loaded)
  + escpos   warm render plus encoding the job with python-escpos (MemoryPrinter/Dummy)
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw

from kiosk import ticket
from kiosk.printing import MemoryPrinter, PrinterConfig
from kiosk.ticket import PAPER_WIDTHS, TicketData, render_ticket

PKT = timezone(timedelta(hours=5), "PKT")


def sample(i: int, *, vary_queue: bool = True) -> TicketData:
    return TicketData(
        centre_name_en="Khidmat Markaz Model Town, Lahore",
        centre_name_ur="خدمت مرکز ماڈل ٹاؤن، لاہور",
        service_name_en="Character Certificate",
        service_name_ur="کریکٹر سرٹیفکیٹ",
        number=f"A{i % 1000:03d}",
        issued_at=datetime(2026, 11, 28, 9, 0, tzinfo=PKT) + timedelta(minutes=i % 600),
        people_ahead=i % 60 if vary_queue else 7,
        eta_minutes=(i * 3) % 200 if vary_queue else 25,
        tracking_url=f"https://khidmat.example.pk/t/{i * 2654435761 % 16**8:08x}",
        priority=("normal", "normal", "senior", "normal", "disabled")[i % 5],
    )


def timed(runs: int, work: Callable[[int], object]) -> list[float]:
    work(-1)  # warm-up: loads fonts and fills caches
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        work(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def floor_work(width: int, height: int) -> Callable[[int], object]:
    size = 170 * 10 // 7 * width // 576

    def work(i: int) -> object:
        data = sample(max(i, 0))
        canvas = Image.new("L", (width, height), 255)
        ImageDraw.Draw(canvas).text((0, 0), data.number, font=ticket._font("latin_bold", size), fill=0)
        qr = ticket.qr_image(data.tracking_url, 5)
        canvas.paste(qr.convert("L"), ((width - qr.width) // 2, height - qr.height))
        return canvas.convert("1", dither=Image.Dither.NONE)

    return work


def steady_work(width: int, *, vary_queue: bool) -> Callable[[int], object]:
    def work(i: int) -> object:
        return render_ticket(sample(max(i, 0), vary_queue=vary_queue), width)

    return work


def cold_work(width: int) -> Callable[[int], object]:
    def work(i: int) -> object:
        ticket._text_block.cache_clear()
        ticket._shaped_bbox.cache_clear()
        return render_ticket(sample(max(i, 0)), width)

    return work


def escpos_work(width: int) -> Callable[[int], object]:
    printer = MemoryPrinter(PrinterConfig(kind="memory", width=width))

    def work(i: int) -> object:
        data = sample(max(i, 0), vary_queue=False)
        printer.print_ticket(render_ticket(data, width), qr_data=data.tracking_url)
        printer.jobs.clear()
        printer.images.clear()
        return None

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--artifacts", type=Path, help="also save ticket-<width>.png here")
    args = parser.parse_args()

    ticket.require_complex_shaping()
    print(f"{args.renders} renders per row (cold: {max(20, args.renders // 10)}); ms per ticket")
    print(f"{'width':>5}  {'what':<9} {'p50':>7} {'p99':>7} {'mean':>7}  ticket size")
    for width in sorted(PAPER_WIDTHS.values()):
        image = render_ticket(sample(0), width)
        rows = [
            ("floor", args.renders, floor_work(width, image.height)),
            ("warm", args.renders, steady_work(width, vary_queue=False)),
            ("varied", args.renders, steady_work(width, vary_queue=True)),
            ("cold", max(20, args.renders // 10), cold_work(width)),
            ("+ escpos", args.renders, escpos_work(width)),
        ]
        for name, runs, work in rows:
            samples = timed(runs, work)
            print(
                f"{width:>5}  {name:<9} {percentile(samples, 0.5):7.2f} "
                f"{percentile(samples, 0.99):7.2f} {statistics.fmean(samples):7.2f}  "
                f"{image.width}x{image.height}"
            )
        if args.artifacts:
            args.artifacts.mkdir(parents=True, exist_ok=True)
            image.save(args.artifacts / f"ticket-{width}.png")


if __name__ == "__main__":
    main()
