"""`guichet invoices validate`: per-file result and findings, exact rule ids, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from channels.einvoice.validation import Finding, ParsedInvoice, Stage, register_business_stage
from channels.einvoice.validation.pipeline import business_stage as business_stage_registered
from services.cli import main
from tests.unit.einvoice import _samples as s

pytestmark = pytest.mark.unit


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["invoices", "validate", *args], catch_exceptions=False)
    return result.exit_code, result.output


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_all_shared_samples_valid_in_one_call() -> None:
    code, out = run(*(str(p) for p in s.processable_samples()))
    assert code == 0, out
    assert out.count(": VALIDE") == len(s.processable_samples())


def test_invalid_invoices_print_exact_rule_ids(tmp_path: Path) -> None:
    wrong_total = write(tmp_path, "total.xml", s.ubl_wrong_total())
    no_number = write(tmp_path, "numero.xml", s.ubl_without_number())
    valid = str(s.sample_dir("ubl") / "ubl-tc434-example2.xml")
    code, out = run(valid, wrong_total, no_number)
    assert code == 1
    assert f"{wrong_total} : INVALIDE" in out
    assert "  [en16931] BR-CO-15 fatal @ /" in out
    assert "  [en16931] BR-02 fatal @ /" in out
    assert "  [xsd] XSD-SCHEMAV_ELEMENT_CONTENT fatal" in out
    assert f"{valid} : VALIDE" in out


def test_hostile_inputs_on_the_command_line(tmp_path: Path) -> None:
    cases = {
        "xxe.xml": (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
            "GUICHET-XML-DOCTYPE",
        ),
        "gros.xml": (b"<a>" + b"x" * (50 * 1024 * 1024) + b"</a>", "GUICHET-GATE-SIZE"),
        "minimum.xml": (
            s.sample("facturx/factur-x-minimum.xml"),
            "GUICHET-PROFILE-NOT-PROCESSABLE",
        ),
    }
    for name, (data, rule) in cases.items():
        code, out = run(write(tmp_path, name, data))
        assert code == 1, name
        assert f" {rule} fatal " in out, out
        assert "root:" not in out


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    valid = str(s.sample_dir("ubl") / "ubl-tc434-example2.xml")
    code, out = run(valid, str(tmp_path / "absent.xml"))
    assert code == 2
    assert "absent.xml : ILLISIBLE" in out


def test_json_output(tmp_path: Path) -> None:
    wrong_total = write(tmp_path, "total.xml", s.ubl_wrong_total())
    code, out = run("--json", wrong_total, str(tmp_path / "absent.xml"))
    assert code == 2
    entries = json.loads(out)
    assert entries[0]["verdict"] == "invalid"
    en16931 = next(st for st in entries[0]["stages"] if st["stage"] == "en16931")
    assert {"stage": "en16931", "rule_id": "BR-CO-15", "flag": "fatal"}.items() <= next(
        f for f in en16931["findings"] if f["rule_id"] == "BR-CO-15"
    ).items()
    assert entries[0]["data"]["BT-1"] == "TOSL108"
    assert entries[1] == {
        "file": str(tmp_path / "absent.xml"),
        "verdict": "unreadable",
        "error": "No such file or directory",
    }


@pytest.fixture
def no_business_stage() -> Iterator[None]:
    """A deployment without the business checks (the supplier-invoices stage unregistered)."""
    previous = business_stage_registered()
    register_business_stage(None)
    yield
    register_business_stage(previous)


def test_tenant_without_business_stage_says_so(no_business_stage: None) -> None:
    code, out = run("--tenant", "69001", str(s.sample_dir("ubl") / "ubl-tc434-example2.xml"))
    assert code == 0
    assert "[business] contrôles métier pas encore disponibles" in out


@pytest.fixture
def business_stage() -> Iterator[list[tuple[str, str | None]]]:
    seen: list[tuple[str, str | None]] = []

    async def stage(document: ParsedInvoice, tenant: str) -> Sequence[Finding]:
        seen.append((tenant, document.data.get("BT-1")))
        return [
            Finding(Stage.BUSINESS, "GUICHET-DUPLICATE", "fatal", "BT-1", "Facture déjà reçue.")
        ]

    previous = business_stage_registered()
    register_business_stage(stage)
    yield seen
    register_business_stage(previous)


def test_tenant_runs_the_registered_business_stage(
    business_stage: list[tuple[str, str | None]],
) -> None:
    path = str(s.sample_dir("ubl") / "ubl-tc434-example2.xml")
    code, out = run("--tenant", "69001", path)
    assert business_stage == [("69001", "TOSL108")]
    assert code == 1
    assert "  [business] GUICHET-DUPLICATE fatal @ BT-1 : Facture déjà reçue." in out
    code, out = run(path)
    assert code == 0 and len(business_stage) == 1
