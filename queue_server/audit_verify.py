"""Checking a centre's event chain against its signed checkpoints, with no Flask and no database.

The hash chain alone finds an accident: an edited, inserted or deleted record breaks it. It
does not stop someone who can write the database from recomputing every later hash and the
head. A *checkpoint* closes that gap: the centre's chain head (sequence number and hash),
signed with an Ed25519 key that lives outside the database, and kept where the insider
cannot rewrite it: as an event in the chain itself, in the instance folder's checkpoint
log, on the printed end-of-day report and, with a province, in the province's own chain.
A rewritten history no longer has the hash a checkpoint signed at that sequence number.

This module is the part an inspector needs: ``python -m queue_server.audit_verify FILE``
checks a file written by ``khidmat audit export`` (events, checkpoints, public key). The
server's ``khidmat audit verify`` feeds the same ``ChainChecker`` from the database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_HASH = "0" * 64
CHECKPOINT_KIND = "checkpoint"
EXPORT_FORMAT = "khidmat-audit-export/1"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """The hash of one record: ``record`` holds centre_id, seq, at (ISO text with
    microseconds), kind, actor, token_id, counter_id, service_id and data."""
    body = json.dumps(
        {name: record[name] for name in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


HASHED_FIELDS = ("centre_id", "seq", "at", "kind", "actor", "token_id", "counter_id", "service_id", "data")


def key_id(public_key_b64: str) -> str:
    """A short name of a public key, to compare with the one a report or the province shows."""
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()[:16]


def fingerprint(checkpoint: dict[str, Any]) -> str:
    """A short fingerprint of a signed checkpoint, for paper: five groups of four hex digits."""
    digest = hashlib.sha256(canonical(checkpoint["signed"]) + checkpoint["signature"].encode()).hexdigest()
    return "-".join(digest[i : i + 4] for i in range(0, 20, 4)).upper()


def signature_valid(checkpoint: dict[str, Any]) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["public_key"]))
        key.verify(base64.b64decode(checkpoint["signature"]), canonical(checkpoint["signed"]))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Finding:
    """One thing verification found wrong; ``seq`` is where (None: the whole chain)."""

    seq: int | None
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{where}{self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class AuditReport:
    centre: str
    checked: int = 0
    checkpoints: int = 0
    last_anchored_seq: int = 0
    findings: list[Finding] = field(default_factory=list)
    key_ids: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def unanchored(self) -> int:
        """Records after the last checkpoint: intact as far as the chain shows, not yet signed."""
        return max(0, self.checked - self.last_anchored_seq) if self.checkpoints else self.checked

    def summary(self) -> str:
        if self.ok:
            return (
                f"{self.centre}: ok ({self.checked} events, {self.checkpoints} signed checkpoints agree; "
                f"{self.unanchored} events after the last checkpoint)"
            )
        lines = [f"{self.centre}: BROKEN ({len(self.findings)} findings in {self.checked} events)"]
        lines += [f"  {finding}" for finding in self.findings]
        return "\n".join(lines)


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint and where it was found ("chain", "checkpoint log", "province")."""

    checkpoint: dict[str, Any]
    source: str


class ChainChecker:
    """Feed a centre's records in sequence order, then ``finish``.

    ``anchors`` are every signed checkpoint known for the centre, from the chain and from
    outside it; ``trusted_keys`` (base64 public keys) are the keys that may sign them (None:
    any key whose signature holds, as in an exported file whose key the inspector compares
    by its key id). A segment of the chain (an export) starts at ``start_seq`` after
    ``start_prev``; checkpoints of heads before it are not checked.
    """

    MAX_FINDINGS = 50

    def __init__(
        self,
        centre: str,
        centre_id: int,
        anchors: Iterable[Anchor],
        trusted_keys: set[str] | None = None,
        *,
        start_seq: int = 1,
        start_prev: str = GENESIS_HASH,
    ) -> None:
        self.report = AuditReport(centre)
        self.centre_id = centre_id
        self.expected_seq = start_seq
        self.start_seq = start_seq
        self.prev = start_prev
        self.chain_broken = False
        self.claims: dict[int, list[tuple[str, Anchor]]] = {}
        self.signatures_in_chain: set[str] = set()
        self.external: list[Anchor] = []
        seen: set[str] = set()
        for anchor in anchors:
            checkpoint = anchor.checkpoint
            signature = str(checkpoint.get("signature", ""))
            if anchor.source != "chain":
                self.external.append(anchor)
            if signature in seen:
                continue
            seen.add(signature)
            signed = checkpoint.get("signed") or {}
            seq = signed.get("seq")
            if not signature_valid(checkpoint):
                self.add(seq, "checkpoint signature invalid", f"found in the {anchor.source}")
                continue
            if trusted_keys is not None and checkpoint["public_key"] not in trusted_keys:
                self.add(
                    seq, "checkpoint signed by an unknown key", f"key {key_id(checkpoint['public_key'])}"
                )
                continue
            if signed.get("centre_id") != centre_id:
                self.add(seq, "checkpoint of another centre", f"found in the {anchor.source}")
                continue
            self.report.key_ids.add(key_id(checkpoint["public_key"]))
            if isinstance(seq, int) and seq >= start_seq:
                self.claims.setdefault(seq, []).append((str(signed.get("head")), anchor))

    def add(self, seq: int | None, reason: str, detail: str = "") -> None:
        if len(self.report.findings) < self.MAX_FINDINGS:
            self.report.findings.append(Finding(seq, reason, detail))

    def feed(self, record: dict[str, Any]) -> None:
        seq = record["seq"]
        if not self.chain_broken:  # after the first break, only the signed heads are held against it
            if seq != self.expected_seq:
                self.add(self.expected_seq, "missing record", f"the next record found is seq {seq}")
                self.chain_broken = True
            elif record["prev_hash"] != self.prev:
                self.add(seq, "previous hash differs")
                self.chain_broken = True
            elif chain_hash(self.prev, record) != record["hash"]:
                self.add(seq, "content altered")
                self.chain_broken = True
        self.prev = record["hash"]
        self.expected_seq = seq + 1
        self.report.checked += 1
        if record["kind"] == CHECKPOINT_KIND:
            self.signatures_in_chain.add(str((record.get("data") or {}).get("signature", "")))
        self._check_claims(seq, record["hash"])

    def _check_claims(self, seq: int, digest: str) -> None:
        for head, anchor in self.claims.pop(seq, []):
            self.report.checkpoints += 1
            if head != digest:
                signed_at = anchor.checkpoint["signed"].get("at", "")
                self.add(
                    seq,
                    "history rewritten",
                    f"the checkpoint signed at {signed_at} ({anchor.source}) has head {head[:12]}…, "
                    f"the chain has {digest[:12]}…",
                )
            else:
                self.report.last_anchored_seq = max(self.report.last_anchored_seq, seq)

    def finish(self, head: tuple[int, str] | None = None, *, end_seq: int | None = None) -> AuditReport:
        """``head`` is the chain head row as it is now (None: not known, as in a file)."""
        last = self.expected_seq - 1
        if head is not None and (head[0] != last or head[1] != self.prev):
            self.add(last + 1, "records missing at the end", f"the head names seq {head[0]}")
        for seq, claims in sorted(self.claims.items()):
            if end_seq is not None and seq > end_seq:
                continue
            for _, anchor in claims:
                self.add(
                    seq,
                    "records missing at the end",
                    f"a checkpoint ({anchor.source}) signed seq {seq}; the chain ends at seq {last}",
                )
        for anchor in self.external:
            signed = anchor.checkpoint.get("signed") or {}
            claimed = signed.get("seq")
            in_range = isinstance(claimed, int) and self.start_seq <= claimed < self.expected_seq
            if in_range and anchor.checkpoint.get("signature") not in self.signatures_in_chain:
                self.add(
                    claimed,
                    "checkpoint missing from the chain",
                    f"signed at {signed.get('at', '')}, kept in the {anchor.source}",
                )
        return self.report


def verify_export(document: dict[str, Any], trusted_key: str | None = None) -> AuditReport:
    """Check an exported file: its records chain from their first previous hash, each
    checkpoint's signature holds, and every head a checkpoint signed is the record's hash."""
    if document.get("format") != EXPORT_FORMAT:
        report = AuditReport(str(document.get("centre", {}).get("code", "?")))
        report.findings.append(Finding(None, "not a Khidmat audit export"))
        return report
    centre = document["centre"]
    events = document.get("events") or []
    keys = {trusted_key} if trusted_key else {document["public_key"]}
    anchors = [Anchor(event["data"], "chain") for event in events if event.get("kind") == CHECKPOINT_KIND]
    anchors += [Anchor(checkpoint, "export") for checkpoint in document.get("checkpoints") or []]
    start_seq = events[0]["seq"] if events else 1
    start_prev = events[0]["prev_hash"] if events else GENESIS_HASH
    checker = ChainChecker(
        centre["code"], centre["id"], anchors, keys, start_seq=start_seq, start_prev=start_prev
    )
    for event in events:
        checker.feed(event)
    report = checker.finish(end_seq=events[-1]["seq"] if events else 0)
    facts = [event["seq"] for event in events if event.get("kind") != CHECKPOINT_KIND]
    if facts and report.last_anchored_seq < facts[-1]:
        report.findings.append(Finding(facts[-1], "the last records are not covered by a checkpoint"))
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m queue_server.audit_verify FILE [--key BASE64]``: exit 0 when intact."""
    args = list(sys.argv[1:] if argv is None else argv)
    trusted = None
    if "--key" in args:
        at = args.index("--key")
        trusted = args[at + 1] if at + 1 < len(args) else None
        del args[at : at + 2]
    if len(args) != 1:
        print("usage: python -m queue_server.audit_verify FILE [--key PUBLIC_KEY_BASE64]", file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as fh:
            document = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args[0]}: {exc}", file=sys.stderr)
        return 2
    report = verify_export(document, trusted)
    print(report.summary())
    print(f"signed by key {key_id(document['public_key'])}" if "public_key" in document else "no public key")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
