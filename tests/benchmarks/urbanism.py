"""Urbanism benchmark: what recording one fact costs in CPU, against computing a fresh file.

Run it from the repository root with ``make bench-urbanism``
(``.venv/bin/python -m tests.benchmarks.urbanism``).

Every fact an instructor records (a majoration, an opinion, a display…) makes the service read the
file's facts from JSON, compute the whole legal timeline again, and write facts and timeline back
as JSON, in the request's transaction. This measures, in one process:

- **baseline**: ``timeline.compute`` of a fresh PCMI (filed, nothing else recorded);
- **full file**: the same for a PCMI at the end of its life (pieces request and receipt,
  majoration, four consultations, decision, display, DOC, an interruption, DAACT, a prorogation);
- **per fact**: the service's CPU work for one fact on that full file
  (``facts_from_json`` → ``compute`` → ``facts_to_json`` + ``timeline_to_json``).

Rates are the best of 5 rounds (the machine is shared); the ratios against the baseline are what
to compare between runs. It exits 0 whatever the numbers: it is a measurement.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import date

from workflows.engine.calendar import calendar_for
from workflows.procedures.urbanism import codec, rulesets, timeline
from workflows.procedures.urbanism.facts import (
    Consultation,
    Decision,
    DecisionKind,
    Display,
    Facts,
    Interruption,
    Majoration,
    MajorationGround,
    Opinion,
    PermitType,
    PiecesReceipt,
    PiecesRequest,
    Prorogation,
)

FILED = date(2026, 3, 2)
TODAY = date(2027, 9, 1)


def fresh() -> Facts:
    return Facts(
        permit_type=PermitType.PCMI,
        filed_on=FILED,
        rule_set=rulesets.rule_set_for("69001", FILED),
        is_maison_individuelle=True,
    )


def full() -> Facts:
    base = fresh()
    services = ("ABF", "SDIS", "ENEDIS", "EAU")
    return Facts(
        permit_type=base.permit_type,
        filed_on=base.filed_on,
        rule_set=base.rule_set,
        is_maison_individuelle=True,
        pieces_requests=(PiecesRequest(date(2026, 3, 20), ("PCMI5", "PCMI6")),),
        pieces_receipts=(PiecesReceipt(date(2026, 4, 10), ("PCMI5", "PCMI6")),),
        majorations=(Majoration(MajorationGround.R423_24, date(2026, 3, 25)),),
        consultations=tuple(
            Consultation(
                service=code,
                sent_on=date(2026, 4, 12),
                answered_on=date(2026, 5, 2) if code != "EAU" else None,
                opinion=Opinion.FAVOURABLE if code != "EAU" else None,
            )
            for code in services
        ),
        decision=Decision(DecisionKind.GRANTED, date(2026, 6, 25), date(2026, 7, 1)),
        display=Display(date(2026, 7, 3)),
        doc_on=date(2026, 9, 1),
        interruptions=(Interruption(date(2026, 12, 1), date(2027, 2, 1)),),
        daact_on=date(2027, 5, 3),
        prorogations=(Prorogation(date(2029, 3, 1)),),
    )


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Best calls per second over 5 rounds of about ``seconds`` / 5 each."""
    best = 0.0
    for _ in range(5):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds / 5
        while True:
            fn()
            n += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measure")
    args = parser.parse_args()
    cal = calendar_for()
    small, big = fresh(), full()
    stored = codec.facts_to_json(big)
    timeline.compute(big, cal, today=TODAY)  # warm caches (holidays)

    def one_fact() -> None:
        facts = codec.facts_from_json(stored)
        tl = timeline.compute(facts, cal, today=TODAY)
        codec.facts_to_json(facts)
        codec.timeline_to_json(tl)

    base = rate(lambda: timeline.compute(small, cal, today=TODAY), args.seconds)
    whole = rate(lambda: timeline.compute(big, cal, today=TODAY), args.seconds)
    per_fact = rate(one_fact, args.seconds)
    dates = len(timeline.compute(big, cal, today=TODAY).dates)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Urbanism timeline — 1 process, load average before {load}")
    print("-" * 78)
    print(f"{'measure':40} {'per second':>12} {'µs each':>10} {'ratio':>8}")
    print("-" * 78)
    for label, value in (
        ("baseline: compute, fresh PCMI", base),
        (f"compute, full PCMI ({dates} dates)", whole),
        ("one fact: JSON → compute → JSON", per_fact),
    ):
        print(f"{label:40} {value:12.0f} {1e6 / value:10.1f} {value / base:8.2f}")
    print("-" * 78)


if __name__ == "__main__":
    main()
