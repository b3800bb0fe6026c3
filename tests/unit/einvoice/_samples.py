"""The shared e-invoice samples (``../shared/data/einvoicing``) and invalid variants built from them."""

from __future__ import annotations

import re
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "einvoicing"


def sample_dir(kind: str) -> Path:
    folder = SAMPLES / kind
    if not folder.is_dir():
        raise AssertionError(
            f"missing test data folder {folder} (../shared/data/einvoicing/{kind} beside the "
            "project root, see ../shared/data/README.md)"
        )
    return folder


def sample(relative: str) -> bytes:
    kind, _, name = relative.partition("/")
    path = sample_dir(kind) / name
    if not path.is_file():
        raise AssertionError(f"missing test sample {path} (see ../shared/data/README.md)")
    return path.read_bytes()


def all_samples() -> list[Path]:
    return sorted(p for kind in ("ubl", "cii", "facturx") for p in sample_dir(kind).iterdir())


def processable_samples() -> list[Path]:
    """Every shared sample but the bare MINIMUM XML, which is not an EN 16931 invoice."""
    return [p for p in all_samples() if "minimum" not in p.name]


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1, old
    return data.replace(old, new, 1)


def ubl_wrong_total() -> bytes:
    """ubl-tc434-example2 with BT-112 one cent off (BT-109 1436.50 + BT-110 365.28 = 1801.78)."""
    data = sample("ubl/ubl-tc434-example2.xml")
    return replace_once(
        data,
        b'<cbc:TaxInclusiveAmount currencyID="NOK">1801.78</cbc:TaxInclusiveAmount>',
        b'<cbc:TaxInclusiveAmount currencyID="NOK">1801.79</cbc:TaxInclusiveAmount>',
    )


def ubl_without_number() -> bytes:
    """ubl-tc434-example2 without its invoice number (BT-1): also an XSD error (cbc:ID 1..1)."""
    return replace_once(sample("ubl/ubl-tc434-example2.xml"), b"<cbc:ID>TOSL108</cbc:ID>", b"")


def cii_wrong_total() -> bytes:
    data = sample("cii/CII_example2.xml")
    found = re.search(rb"<ram:GrandTotalAmount>([0-9.]+)</ram:GrandTotalAmount>", data)
    assert found is not None
    value = f"{float(found.group(1)) + 1:.2f}".encode()
    return data.replace(
        found.group(0), b"<ram:GrandTotalAmount>" + value + b"</ram:GrandTotalAmount>"
    )


def cii_latin1() -> bytes:
    """CII_example2 declared ISO-8859-1, with a seller name that needs it."""
    text = sample("cii/CII_example2.xml").decode("utf-8")
    text = re.sub(r'encoding="[^"]+"', 'encoding="ISO-8859-1"', text, count=1)
    text = re.sub(
        r"(<ram:SellerTradeParty>.*?<ram:Name>)[^<]*(</ram:Name>)",
        r"\1Société Générale des Eaux\2",
        text,
        count=1,
        flags=re.S,
    )
    return text.encode("iso-8859-1")


def minimum_as(spec: str) -> bytes:
    data = sample("facturx/factur-x-minimum.xml")
    return replace_once(data, b"urn:factur-x.eu:1p0:minimum", spec.encode())
