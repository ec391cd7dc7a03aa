"""Login throttling per account and address, and per address over all accounts.

A guesser is slowed where they guess from: ``LOGIN_MAX_FAILURES`` failures for one
account from one address lock that pair for ``LOGIN_LOCK_SECONDS``; one who keeps going
(three times as many within eight times as long) is locked for the longer window (the
back-off). ``LOGIN_ADDRESS_MAX_FAILURES`` failures from one address over any accounts
lock that address. Nobody can lock a clerk out of their own desk by guessing elsewhere.
Counts live in the rate-limit store (Redis when configured, so every process agrees).
"""

from __future__ import annotations

from flask import current_app

from queue_server import ratelimit

BACK_OFF = 8  # the longer window, in lock periods


def _keys(username: str, address: str) -> list[tuple[str, int, int]]:
    """(key, limit, window seconds) for each count that may lock this attempt."""
    config = current_app.config
    lock = int(config["LOGIN_LOCK_SECONDS"])
    most = int(config["LOGIN_MAX_FAILURES"])
    pair = f"{username.strip().lower()[:64]}|{address}"
    return [
        (f"login:fail:{pair}", most, lock),
        (f"login:fail-long:{pair}", 3 * most, BACK_OFF * lock),
        (f"login:fail-ip:{address}", int(config["LOGIN_ADDRESS_MAX_FAILURES"]), lock),
    ]


def is_locked(username: str, address: str) -> bool:
    return any(ratelimit.count(key, window) >= limit for key, limit, window in _keys(username, address))


def failed(username: str, address: str) -> None:
    for key, limit, window in _keys(username, address):
        ratelimit.hit(key, limit, window)


def succeeded(username: str, address: str) -> None:
    """A right password from this address: nothing to forget (the windows run out), but
    kept as the one place to hook a reset should the policy want it."""
