"""E-invoice validation benchmark: the full pipeline against raw XSD + Schematron, same run.

Run it from the repository root with ``make bench-einvoice``
(``.venv/bin/python -m tests.benchmarks.einvoice``). It needs nothing but the shared samples
(``../shared/data/einvoicing``: UBL, CII and Factur-X, the bare MINIMUM XML left out since it
is not an EN 16931 invoice).

Both loops run in this one process, on one core, over the same files, with the same compiled
artefacts (each XSD and stylesheet is compiled once per process, before measuring):

- raw: lxml parse → XSD validation → Saxon parse → compiled Schematron transform to SVRL
  (the XML of the Factur-X PDF is extracted once beforehand, BOMs are removed beforehand);
- pipeline: ``channels.einvoice.validation.validate(bytes)`` as the CLI and the deposit run
  it: gate, Factur-X extraction, hardened parse, syntax and profile detection, XSD, EN 16931
  rules, SVRL → findings, EN 16931 data extraction (BR-FR off, as by default; no storage).

After a warm-up, rounds alternate between the two (these machines are noisy and shared); it
prints documents per second for each, the ratio pipeline / raw, per syntax, and the process's
peak RSS. It exits 0 whether the targets are met or not (it is a measurement), non-zero only
when it could not run.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "einvoicing"
TARGET_RAW_RATE = 80.0
TARGET_RATIO = 0.8


@dataclass
class Doc:
    name: str
    data: bytes  # as received
    xml: bytes  # the invoice XML, BOM removed (raw loop)
    syntax: str
    xsd: str
    rules: object


def load() -> list[Doc]:
    from channels.einvoice.validation import validate
    from channels.einvoice.validation._pdf import extract_facturx
    from channels.einvoice.validation.artefacts import en16931_rules_for, xsd_for
    from channels.einvoice.validation.settings import get_validation_settings

    if not SAMPLES.is_dir():
        raise SystemExit(f"missing test data folder {SAMPLES} (see ../shared/data/README.md)")
    docs = []
    for kind in ("ubl", "cii", "facturx"):
        folder = SAMPLES / kind
        if not folder.is_dir():
            raise SystemExit(f"missing test data folder {folder}")
        for path in sorted(folder.iterdir()):
            if "minimum" in path.name:
                continue
            data = path.read_bytes()
            report, _ = validate(data)
            if not report.valid or report.syntax is None:
                raise SystemExit(f"{path.name} is not valid: {report.to_dict()}")
            xml = data
            if data.startswith(b"%PDF"):
                extracted, _ = extract_facturx(data, get_validation_settings())
                assert extracted is not None
                xml = extracted.xml
            docs.append(
                Doc(
                    path.name,
                    data,
                    xml.removeprefix(b"\xef\xbb\xbf"),
                    report.syntax,
                    xsd_for(report.syntax, report.profile),
                    en16931_rules_for(report.syntax, report.profile),
                )
            )
    return docs


def raw_runner() -> Callable[[Doc], None]:
    from lxml import etree

    from channels.einvoice.validation._rules import engine, xsd

    e = engine()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)

    def run(doc: Doc) -> None:
        root = etree.fromstring(doc.xml, parser)
        xsd(doc.xsd).validate(root)
        node = e.processor.parse_xml(xml_text=doc.xml.decode("utf-8"))
        e.executable(doc.rules).transform_to_string(xdm_node=node)  # type: ignore[arg-type]

    return run


def pipeline_runner() -> Callable[[Doc], None]:
    from channels.einvoice.validation import validate

    def run(doc: Doc) -> None:
        validate(doc.data)

    return run


def measure(run: Callable[[Doc], None], docs: list[Doc], seconds: float) -> tuple[int, float]:
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for doc in docs:
            run(doc)
            done += 1
    return done, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.einvoice", description=__doc__
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="per round and loop")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    docs = load()  # also compiles every artefact used
    print(f"loaded and compiled in {time.perf_counter() - t0:.1f} s: {len(docs)} documents")
    loops = {"raw": raw_runner(), "pipeline": pipeline_runner()}
    groups = {"all": docs}
    for syntax in sorted({d.syntax for d in docs}):
        groups[syntax] = [d for d in docs if d.syntax == syntax]
    results: dict[tuple[str, str], list[float]] = {}
    for name, group in groups.items():
        for loop in loops.values():
            measure(loop, group, 1.0)  # warm-up (JIT)
        for r in range(args.rounds):
            order = list(loops.items()) if r % 2 == 0 else list(reversed(loops.items()))
            for kind, loop in order:
                done, elapsed = measure(
                    loop, group, args.seconds if name == "all" else args.seconds / 2
                )
                results.setdefault((name, kind), []).append(done / elapsed)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(
        f"E-invoice validation — 1 process, {os.cpu_count()} cores on the machine, load average "
        f"before {', '.join(f'{x:.1f}' for x in load_before)}"
    )
    line = "-" * 78
    print(line)
    print(f"{'documents':24}{'raw XSD+rules/s':>18}{'pipeline/s':>14}{'ratio':>9}   target")
    print(line)
    for name in groups:
        raw = max(results[(name, "raw")])
        pipe = max(results[(name, "pipeline")])
        ratio = pipe / raw if raw else float("nan")
        target = ""
        if name == "all":
            target = (
                f"raw ≥ {TARGET_RAW_RATE:.0f}/s: {'met' if raw >= TARGET_RAW_RATE else 'NOT MET'}; "
                f"ratio ≥ {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT MET'}"
            )
        label = f"{name} ({len(groups[name])})"
        print(f"{label:24}{raw:>18.1f}{pipe:>14.1f}{ratio:>9.2f}   {target}")
    print(line)
    print(f"peak RSS of this process: {peak_mb:.0f} MB (Saxon processor, compiled rules, XSDs)")
    print(
        "Rates are the best round of each loop (rounds alternate); rules: "
        + "; ".join(sorted({d.rules.label for d in docs}))  # type: ignore[attr-defined]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
