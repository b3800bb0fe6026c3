"""The instruction phase of the urbanism timeline: completeness and pieces requests, majorations,
the instruction deadline, consultations and what silence will produce (see ``timeline``)."""

from __future__ import annotations

from datetime import timedelta

from workflows.engine.calendar import add_months
from workflows.procedures.urbanism._timeline_common import (
    _DAY,
    _PIECES_MONTHS,
    _R424_2,
    _TACIT_LABELS,
    _UNFAVOURABLE_ABF,
    _Analysis,
    _is_cu,
    _is_dp,
    _months_fr,
    _rejection,
    base_deadline,
    format_date,
)
from workflows.procedures.urbanism.facts import (
    Exception_,
    Finding,
    Majoration,
    MajorationGround,
    PiecesRequest,
    TacitOutcome,
)


def _pieces(a: _Analysis) -> None:
    facts = a.facts
    for index, candidate in sorted(
        enumerate(facts.pieces_requests), key=lambda item: (item[1].notified_on, item[0])
    ):
        effective, findings = _request_effect(a, candidate)
        a.findings.extend(findings)
        a.request_effective[index] = effective
        if effective:
            a.effective_request = candidate
    request = a.effective_request
    if request is None:
        a.complete = a.horizon > a.completeness_limit
        if a.complete:
            a.add(
                "complete",
                facts.filed_on,
                "Dossier réputé complet",
                "Aucune demande de pièces notifiée dans le mois : complet à la date du dépôt",
                "R423-22 du code de l'urbanisme",
            )
        return
    a.pieces_limit = a.instruction_end(request.notified_on, _PIECES_MONTHS)
    outcome = _rejection(facts)
    a.add(
        "pieces_limit",
        a.pieces_limit,
        "Date limite pour fournir toutes les pièces manquantes",
        "3 mois à compter de la notification de la demande de pièces (date à date)",
        "R423-39 a et b du code de l'urbanisme",
        note=f"Sans toutes les pièces à cette date : {_TACIT_LABELS[outcome].lower()}.",
    )
    wanted = set(request.pieces)
    received: set[str] = set()
    for receipt in sorted(facts.pieces_receipts, key=lambda r: r.received_on):
        received.update(receipt.pieces)
        if a.completed_on is None and wanted <= received:
            a.completed_on = max(receipt.received_on, request.notified_on)
    a.missing = tuple(p for p in request.pieces if p not in received)
    if a.completed_on is not None and a.completed_on > a.pieces_limit:
        a.pieces_timed_out = True
        a.find(
            "pieces_after_limit",
            f"La dernière pièce a été reçue le {format_date(a.completed_on)}, après la date "
            f"limite du {format_date(a.pieces_limit)} : la demande a été tacitement rejetée "
            f"({_TACIT_LABELS[outcome].lower()}) et l'instruction ne reprend pas. Le demandeur "
            "doit déposer une nouvelle demande.",
            "R423-39 b du code de l'urbanisme",
        )
    elif a.completed_on is None:
        if a.horizon > a.pieces_limit:
            a.pieces_timed_out = True
            a.find(
                "pieces_not_supplied",
                f"Pièces manquantes non fournies au {format_date(a.pieces_limit)} "
                f"({', '.join(a.missing)}) : {_TACIT_LABELS[outcome].lower()} née le "
                f"{format_date(a.pieces_limit + _DAY)}.",
                "R423-39 b du code de l'urbanisme",
            )
        else:
            a.suspended = True
    else:
        a.complete = True
        a.add(
            "complete",
            a.completed_on,
            "Dossier complet (réception de la dernière pièce manquante)",
            "Le délai d'instruction repart en entier de cette date",
            "R423-39 c du code de l'urbanisme",
        )


def _request_effect(a: _Analysis, request: PiecesRequest) -> tuple[bool, list[Finding]]:
    when = format_date(request.notified_on)
    if request.notified_on < a.facts.filed_on:
        return False, [
            Finding(
                "pieces_request_before_filing",
                f"La demande de pièces datée du {when} est antérieure au dépôt : vérifiez la "
                "date de notification.",
                "R423-38 du code de l'urbanisme",
            )
        ]
    if a.effective_request is not None:
        return False, [
            Finding(
                "pieces_request_repeated",
                f"Une demande de pièces a déjà été notifiée le "
                f"{format_date(a.effective_request.notified_on)} : la liste est exhaustive, la "
                f"demande du {when} ne suspend pas à nouveau le délai.",
                "R423-38 et R423-41 du code de l'urbanisme",
            )
        ]
    if request.notified_on > a.completeness_limit:
        return False, [
            Finding(
                "pieces_request_late",
                f"La demande de pièces notifiée le {when} est postérieure à la fin du premier "
                f"mois ({format_date(a.completeness_limit)}) : elle ne suspend pas le délai, le "
                "dossier est réputé complet et la décision tacite naît à la date normale.",
                "R423-22, R423-38 et R423-41 du code de l'urbanisme",
            )
        ]
    if request.not_required:
        return False, [
            Finding(
                "pieces_request_not_required",
                f"La demande de pièces du {when} réclame des pièces que le code n'exige pas "
                f"({', '.join(request.not_required)}) : elle ne suspend pas le délai "
                "d'instruction. Notifiez dans le mois une demande limitée aux pièces exigibles.",
                "R423-41 du code de l'urbanisme ; CE Sect. 9 décembre 2022 n°454521",
            )
        ]
    if not request.pieces:
        return False, [
            Finding(
                "pieces_request_empty",
                f"La demande de pièces du {when} ne liste aucune pièce : elle est sans effet.",
                "R423-38 du code de l'urbanisme",
            )
        ]
    return True, []


def _majoration_months(a: _Analysis) -> tuple[int, list[str], list[str]]:
    """Total months and the rule text / references of the month-1 majorations."""
    facts = a.facts
    base, base_ref = base_deadline(facts)
    months: dict[MajorationGround, int] = {}
    for index, m in sorted(
        enumerate(facts.majorations), key=lambda item: (item[1].notified_on, item[0])
    ):
        if m.ground is MajorationGround.R423_35:
            continue
        effective, findings = _majoration_effect(a, m)
        a.findings.extend(findings)
        a.majoration_effective[index] = effective
        a.majoration_findings[index] = findings
        if effective:
            months[m.ground] = {
                MajorationGround.R423_24: 1,
                MajorationGround.R423_25: 2,
                MajorationGround.R423_28: facts.rule_set.r423_28_months,
                MajorationGround.ARCHAEOLOGY: 1,
            }[m.ground]
    rules = [f"{_months_fr(base)} ({base_ref.split(' du ')[0]})"]
    refs = [base_ref]
    total = base
    if MajorationGround.R423_28 in months:
        total = months[MajorationGround.R423_28]
        rules = [f"délai porté à {_months_fr(total)} (R423-28)"]
        refs.append("R423-28 du code de l'urbanisme")
        for ground in (MajorationGround.R423_24, MajorationGround.R423_25):
            if ground in months:
                a.find(
                    "majoration_overridden",
                    f"La majoration {ground.value} est sans effet : le délai est fixé à "
                    f"{_months_fr(total)} par l'article R423-28.",
                    "R423-28 du code de l'urbanisme",
                )
    else:
        extra = max(
            (
                months[g]
                for g in (MajorationGround.R423_24, MajorationGround.R423_25)
                if g in months
            ),
            default=0,
        )
        if MajorationGround.R423_24 in months and MajorationGround.R423_25 in months:
            a.find(
                "majoration_not_cumulative",
                "Les majorations R423-24 (+1 mois) et R423-25 (+2 mois) ne se cumulent pas : "
                "seule la plus longue (+2 mois) s'applique.",
                "R423-25 du code de l'urbanisme",
            )
        if extra:
            name = "R423-25" if extra == 2 else "R423-24"
            rules.append(f"+ {_months_fr(extra)} ({name})")
            refs.append(f"{name} du code de l'urbanisme")
        total += extra
    if MajorationGround.ARCHAEOLOGY in months:
        total += 1
        rules.append("+ 1 mois (archéologie préventive)")
        refs.append("R425-31 du code de l'urbanisme")
    return total, rules, refs


def _majoration_effect(a: _Analysis, m: Majoration) -> tuple[bool, list[Finding]]:
    facts = a.facts
    when = format_date(m.notified_on)
    if _is_cu(facts):
        return False, [
            Finding(
                "majoration_not_applicable",
                f"La majoration {m.ground.value} notifiée le {when} est sans effet : le délai "
                "d'un certificat d'urbanisme est fixe.",
                "R410-9 et R410-10 du code de l'urbanisme",
            )
        ]
    if m.ground is MajorationGround.ARCHAEOLOGY and _is_dp(facts):
        return False, [
            Finding(
                "majoration_not_applicable",
                f"La majoration pour archéologie préventive notifiée le {when} est sans effet sur "
                "une déclaration préalable : elle ne concerne que les permis.",
                "R425-31 du code de l'urbanisme",
            )
        ]
    if not m.ground_valid:
        return False, [
            Finding(
                "majoration_invalid_ground",
                f"La majoration {m.ground.value} notifiée le {when} repose sur un motif erroné : "
                "elle ne prolonge pas le délai, la décision tacite naît à la date normale.",
                "CE 24 octobre 2023 n°462511",
            )
        ]
    if m.notified_on < facts.filed_on:
        return False, [
            Finding(
                "majoration_before_filing",
                f"La majoration datée du {when} est antérieure au dépôt : vérifiez la date de "
                "notification.",
                "R423-42 du code de l'urbanisme",
            )
        ]
    if m.ground is not MajorationGround.R423_35 and m.notified_on > a.completeness_limit:
        return False, [
            Finding(
                "majoration_late",
                f"La majoration {m.ground.value} notifiée le {when} est postérieure à la fin du "
                f"premier mois ({format_date(a.completeness_limit)}) : elle est sans effet, la "
                "décision tacite naît à la date initiale.",
                "R423-42 et R423-43 du code de l'urbanisme",
            )
        ]
    return True, []


def _deadline(a: _Analysis) -> None:
    facts = a.facts
    total, rules, refs = _majoration_months(a)
    if a.suspended or a.pieces_timed_out:
        # R423-35 majorations are still validated for the findings.
        for index, m in enumerate(facts.majorations):
            if m.ground is MajorationGround.R423_35:
                effective, findings = _majoration_effect(a, m)
                a.findings.extend(findings)
                a.majoration_effective[index] = effective
                a.majoration_findings[index] = findings
                if effective:
                    total += 2
        a.total_months = total
        return
    start = a.completed_on if a.effective_request is not None else facts.filed_on
    assert start is not None
    deadline = a.instruction_end(start, total)
    r423_35 = False
    for index, m in sorted(
        enumerate(facts.majorations), key=lambda item: (item[1].notified_on, item[0])
    ):
        if m.ground is not MajorationGround.R423_35:
            continue
        effective, findings = _majoration_effect(a, m)
        if effective and m.notified_on > deadline:
            effective = False
            findings = [
                Finding(
                    "majoration_late",
                    f"La prolongation R423-35 notifiée le {format_date(m.notified_on)} est "
                    f"postérieure à la date limite d'instruction ({format_date(deadline)}) : la "
                    "décision tacite était déjà née.",
                    "R423-35 du code de l'urbanisme",
                )
            ]
        if effective and r423_35:
            effective = False
            findings = [
                Finding(
                    "majoration_repeated",
                    "La prolongation R423-35 a déjà été notifiée : elle ne se cumule pas.",
                    "R423-35 du code de l'urbanisme",
                )
            ]
        a.findings.extend(findings)
        a.majoration_effective[index] = effective
        a.majoration_findings[index] = findings
        if effective:
            r423_35 = True
    if r423_35:
        total += 2
        rules.append("+ 2 mois (recours au préfet de région, R423-35)")
        refs.append("R423-35 du code de l'urbanisme")
        deadline = a.instruction_end(start, total)
    a.total_months = total
    a.instruction_deadline = deadline
    a.governing_deadline = deadline
    a.tacit_birth = deadline + _DAY
    origin = (
        "à compter de la réception de la dernière pièce (R423-39 c)"
        if a.effective_request is not None
        else "à compter du dépôt"
    )
    extension = (
        ", reporté au premier jour ouvré (ordonnance 2025-1091)"
        if facts.rule_set.extend_instruction_deadlines_to_working_day
        else ", sans report le samedi, dimanche ou jour férié"
    )
    a.add(
        "instruction_deadline",
        deadline,
        "Date limite de notification de la décision",
        f"{' '.join(rules)} = {_months_fr(total)} {origin}, date à date{extension}",
        " ; ".join(refs),
    )


def _consultations_and_outcome(a: _Analysis) -> None:
    facts = a.facts
    r424_3 = False
    for c in facts.consultations:
        if c.delay_days is not None:
            limit = c.sent_on + timedelta(days=c.delay_days)
            rule = f"{c.delay_days} jours à compter de la réception de la demande d'avis"
        else:
            months = (
                c.delay_months if c.delay_months is not None else facts.rule_set.consultation_months
            )
            limit = add_months(c.sent_on, months)
            rule = f"{_months_fr(months)} à compter de la réception de la demande d'avis"
        reference = "R423-59 du code de l'urbanisme"
        if c.answered_on is None:
            note = (
                "Sans réponse : avis réputé favorable."
                if a.horizon > limit
                else "Sans réponse à cette date, l'avis sera réputé favorable."
            )
        elif c.answered_on > limit:
            note = (
                f"Avis reçu le {format_date(c.answered_on)}, après la date limite : enregistré, "
                "mais l'avis est réputé favorable."
            )
            a.find(
                "opinion_late",
                f"L'avis du service {c.service} reçu le {format_date(c.answered_on)} est "
                f"tardif (date limite : {format_date(limit)}) : l'avis est réputé favorable ; "
                "le contenu de l'avis tardif peut être pris en compte mais ne lie pas la "
                "décision.",
                reference,
            )
        else:
            opinion = c.opinion.value if c.opinion is not None else "non précisé"
            note = f"Avis reçu le {format_date(c.answered_on)} : {opinion}."
            if c.abf_accord_required and c.opinion in _UNFAVOURABLE_ABF:
                r424_3 = True
        a.add(
            f"consultation:{c.service}",
            limit,
            f"Date limite de l'avis du service consulté : {c.service}",
            rule,
            reference,
            note=note,
        )
    if a.suspended or a.pieces_timed_out:
        a.tacit_outcome = _rejection(facts)
        assert a.pieces_limit is not None
        a.governing_deadline = a.pieces_limit
        a.tacit_birth = a.pieces_limit + _DAY
        a.add(
            "tacit_decision",
            a.tacit_birth,
            f"{_TACIT_LABELS[a.tacit_outcome]} (pièces manquantes non fournies)",
            "Le lendemain de la date limite de production des pièces, à 00:00",
            "R423-39 b du code de l'urbanisme",
        )
        return
    outcome, reference = _tacit_outcome(a, r424_3=r424_3)
    a.tacit_outcome = outcome
    assert a.tacit_birth is not None
    a.add(
        "tacit_decision",
        a.tacit_birth,
        _TACIT_LABELS[outcome],
        "Le lendemain du dernier jour du délai d'instruction, à 00:00 (même un dimanche ou "
        "un jour férié)",
        reference,
    )


def _tacit_outcome(a: _Analysis, *, r424_3: bool) -> tuple[TacitOutcome, str]:
    facts = a.facts
    if _is_cu(facts):
        return TacitOutcome.CU, "R410-12 du code de l'urbanisme"
    r424_2 = facts.exceptions & _R424_2
    if r424_2:
        return _rejection(facts), "R424-2 du code de l'urbanisme"
    if Exception_.ENVIRONMENTAL_ASSESSMENT in facts.exceptions:
        if facts.filed_on >= facts.rule_set.environmental_assessment_from:
            return _rejection(facts), "R424-2-1 du code de l'urbanisme"
        a.find(
            "environmental_assessment_before_rule",
            "Projet soumis à évaluation environnementale, mais déposé avant le "
            f"{format_date(facts.rule_set.environmental_assessment_from)} : le silence vaut "
            "toujours décision favorable.",
            "R424-2-1 du code de l'urbanisme",
        )
    if r424_3:
        return _rejection(facts), "R424-3 du code de l'urbanisme"
    if _is_dp(facts):
        return TacitOutcome.NON_OPPOSITION, "R424-1 du code de l'urbanisme"
    return TacitOutcome.GRANTED, "R424-1 du code de l'urbanisme"
