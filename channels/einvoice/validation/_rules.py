"""XSD (lxml) and compiled Schematron (saxonche): compiled once per process, run fail-closed.

Saxon is locked down before anything is parsed or compiled, for the whole process (SaxonC's
configuration is process-wide):

- ``http://saxon.sf.net/feature/allowedProtocols`` = ``""``: no URI scheme may be read — no
  ``document()``, ``unparsed-text()``, ``xsl:include`` or external entity, from a file or the
  network. Stylesheets are therefore compiled from their text, and the Factur-X code lists,
  which the official stylesheets read with ``document('…_codedb.xml')``, are parsed once and
  handed in as a stylesheet parameter (the only change made to the official text).
- the parser feature ``disallow-doctype-decl`` = true: any DOCTYPE is a parse error.
- Saxon only ever receives the document re-serialised by lxml after our own hardened parse
  (no DOCTYPE, no entity left).

One processor and its executables per process, created lazily on first use; a process
created by ``fork`` builds its own (checked by pid). Transformations are serialised by a lock:
an executable is not thread-safe.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from lxml import etree

from channels.einvoice.validation.artefacts import MissingArtefact, RuleSet, path
from channels.einvoice.validation.findings import Finding, Flag, Stage

SVRL = "http://purl.oclc.org/dsdl/svrl"
ALLOWED_PROTOCOLS = "http://saxon.sf.net/feature/allowedProtocols"
DISALLOW_DOCTYPE = (
    "http://saxon.sf.net/feature/parserFeature?uri="
    "http://apache.org/xml/features/disallow-doctype-decl"
)
CODEDB_PARAM = "guichet-codedb"


class RulesUnavailable(RuntimeError):
    """A rule set could not be compiled or run: the document is never declared valid."""


_xsd_cache: dict[str, etree.XMLSchema] = {}
_xsd_lock = threading.Lock()


def xsd(relative: str) -> etree.XMLSchema:
    """The compiled XML Schema (lxml), once per process. Imports resolve inside artefacts/."""
    with _xsd_lock:
        schema = _xsd_cache.get(relative)
        if schema is None:
            parser = etree.XMLParser(no_network=True, resolve_entities=False)
            schema = etree.XMLSchema(etree.parse(str(path(relative)), parser))
            _xsd_cache[relative] = schema
        return schema


def validate_xsd(root: etree._Element, relative: str) -> list[Finding]:
    schema = xsd(relative)
    if schema.validate(root):
        return []
    findings = []
    for entry in cast(Iterable[Any], schema.error_log):
        findings.append(
            Finding(
                Stage.XSD,
                f"XSD-{entry.type_name}",
                "fatal",
                entry.path or f"ligne {entry.line}",
                f"Non conforme au schéma XSD ({Path(relative).name}), ligne {entry.line} : "
                f"{entry.message}",
            )
        )
    return findings


class _Engine:
    def __init__(self) -> None:
        from saxonche import PySaxonProcessor

        self.pid = os.getpid()
        self.processor: Any = PySaxonProcessor(license=False)
        self.processor.set_configuration_property(ALLOWED_PROTOCOLS, "")
        self.processor.set_configuration_property(DISALLOW_DOCTYPE, "true")
        self.compiler: Any = self.processor.new_xslt30_processor()
        self.executables: dict[str, Any] = {}
        self.lock = threading.Lock()

    def executable(self, rules: RuleSet) -> Any:
        found = self.executables.get(rules.key)
        if found is not None:
            return found
        if not rules.xslt.is_file():
            raise MissingArtefact(f"artefact manquant : {rules.xslt}")
        text = rules.xslt.read_text(encoding="utf-8")
        codedb = None
        if rules.codedb is not None:
            call = f"document('{rules.codedb.name}')"
            if call not in text:
                raise RulesUnavailable(f"{rules.xslt.name} ne lit pas {rules.codedb.name}")
            text = text.replace(call, f"${CODEDB_PARAM}")
            marker = "<xsl:param "
            at = text.index(marker)
            text = text[:at] + f'<xsl:param name="{CODEDB_PARAM}" />\n' + text[at:]
            codedb = self.processor.parse_xml(
                xml_text=rules.codedb.read_text(encoding="utf-8").removeprefix("\ufeff")
            )
        executable = self.compiler.compile_stylesheet(stylesheet_text=text)
        if codedb is not None:
            executable.set_parameter(CODEDB_PARAM, codedb)
        self.executables[rules.key] = executable
        return executable

    def run(self, rules: RuleSet, xml_text: str) -> str:
        with self.lock:
            executable = self.executable(rules)
            node = self.processor.parse_xml(xml_text=xml_text)
            result: str = executable.transform_to_string(xdm_node=node)
            return result


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None or _engine.pid != os.getpid():
            _engine = _Engine()
        return _engine


def warm_up(*rule_sets: RuleSet) -> None:
    """Compile these rule sets now (e.g. before validating many files)."""
    e = engine()
    with e.lock:
        for rules in rule_sets:
            e.executable(rules)


def _flag(value: str | None) -> Flag:
    return "warning" if (value or "").lower() in ("warning", "information", "info") else "fatal"


def svrl_findings(svrl: str, stage: Stage) -> list[Finding]:
    root = etree.fromstring(svrl.encode("utf-8"), etree.XMLParser(resolve_entities=False))
    if etree.QName(root).localname != "schematron-output":
        raise RulesUnavailable("le résultat des règles n'est pas un rapport SVRL")
    findings = []
    for element in root.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text = " ".join("".join(str(t) for t in element.itertext()).split())
        findings.append(
            Finding(
                stage,
                element.get("id") or "SCHEMATRON",
                _flag(element.get("flag")),
                element.get("location") or "",
                text,
            )
        )
    return findings


def run_rules(rules: RuleSet, xml_text: str, stage: Stage) -> list[Finding]:
    """Run one rule set; any failure raises RulesUnavailable (the caller fails closed)."""
    try:
        svrl = engine().run(rules, xml_text)
        return svrl_findings(svrl, stage)
    except RulesUnavailable:
        raise
    except Exception as exc:
        raise RulesUnavailable(f"{rules.label} : {str(exc).strip()[:300]}") from exc
