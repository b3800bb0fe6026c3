"""After the instruction: the decision and its notification, validity, withdrawal, works,
display and the engine timers (see ``timeline``)."""

from __future__ import annotations

from datetime import date, timedelta

from workflows.engine.calendar import add_months
from workflows.procedures.urbanism._timeline_common import (
    _APPEAL_BACKSTOP_MONTHS,
    _DAY,
    _DECISION_DISPLAY_DAYS,
    _TACIT_LABELS,
    _TREE_FELLING_MONTHS,
    _Analysis,
    _is_cu,
    _is_dp,
    _months_fr,
    format_date,
)
from workflows.procedures.urbanism.facts import (
    FAVOURABLE_DECISIONS,
    DecisionKind,
    Finding,
    TacitOutcome,
    TimerPlan,
)


def _decision(a: _Analysis) -> None:
    facts = a.facts
    decision = facts.decision
    if decision is None:
        return
    if decision.notified_on is None:
        a.find(
            "decision_not_notified",
            f"La décision signée le {format_date(decision.signed_on)} n'est pas encore notifiée : "
            "elle ne compte qu'à sa notification (première présentation du recommandé ou "
            "réception électronique)"
            + (
                f", au plus tard le {format_date(a.governing_deadline)}."
                if a.governing_deadline is not None
                else "."
            ),
            "R424-10 du code de l'urbanisme",
        )
        return
    notified = decision.notified_on
    a.add(
        "decision_notified",
        notified,
        "Notification de la décision",
        "Première présentation du recommandé ou réception de la notification électronique",
        "R424-10 du code de l'urbanisme",
    )
    effective, findings = _notification_effect(a, notified, decision.kind)
    a.findings.extend(findings)
    a.decision_effective = effective
    a.decision_confirmative = effective and any(
        f.code == "decision_confirms_tacit" for f in findings
    )


def _notification_effect(
    a: _Analysis, notified: date, kind: DecisionKind | None
) -> tuple[bool, list[Finding]]:
    facts = a.facts
    if notified < facts.filed_on:
        return False, [
            Finding(
                "decision_before_filing",
                f"La date de notification ({format_date(notified)}) est antérieure au dépôt : "
                "vérifiez-la.",
                "R424-10 du code de l'urbanisme",
            )
        ]
    if a.suspended:
        return True, []
    deadline = a.governing_deadline
    if deadline is None or notified <= deadline:
        return True, []
    outcome = a.tacit_outcome
    born = format_date(deadline + _DAY)
    favourable_tacit = outcome in (
        TacitOutcome.GRANTED,
        TacitOutcome.NON_OPPOSITION,
        TacitOutcome.CU,
    )
    if favourable_tacit and kind is not None and kind in FAVOURABLE_DECISIONS:
        return True, [
            Finding(
                "decision_confirms_tacit",
                f"La décision notifiée le {format_date(notified)} l'est après la naissance de la "
                f"décision tacite ({born}) : elle la confirme ; les délais de retrait, d'affichage "
                "et de validité courent depuis la décision tacite.",
                "R424-1 et L424-5 du code de l'urbanisme",
            )
        ]
    if favourable_tacit:
        return False, [
            Finding(
                "decision_is_withdrawal",
                f"Notifiée le {format_date(notified)}, après la naissance de la décision tacite "
                f"favorable ({born}), cette décision défavorable vaut retrait de la décision "
                "tacite : elle n'est légale que si la décision tacite est illégale, après une "
                "procédure contradictoire, et si elle est notifiée dans les trois mois de sa "
                f"naissance.",
                "L424-5 du code de l'urbanisme ; L121-1 et L122-1 du CRPA",
            )
        ]
    label = _TACIT_LABELS[outcome].lower() if outcome is not None else "décision tacite"
    return False, [
        Finding(
            "decision_after_tacit_rejection",
            f"Notifiée le {format_date(notified)}, cette décision intervient après la naissance "
            f"d'un(e) {label} ({born})"
            + (
                " : une décision favorable vaut retrait de ce rejet et nouvelle décision."
                if kind is not None and kind in FAVOURABLE_DECISIONS
                else "."
            ),
            "R424-2, R424-3 et R423-39 du code de l'urbanisme",
        )
    ]


def _after_decision(a: _Analysis) -> None:
    facts = a.facts
    decision = facts.decision
    explicit_favourable = (
        decision is not None
        and decision.notified_on is not None
        and decision.kind in FAVOURABLE_DECISIONS
    )
    tacit_favourable = a.tacit_outcome in (
        TacitOutcome.GRANTED,
        TacitOutcome.NON_OPPOSITION,
        TacitOutcome.CU,
    )
    birth = a.tacit_birth
    if a.decision_confirmative and birth is not None:
        a.favourable_from = birth
        a.favourable_tacit = True
    elif a.decision_effective:
        if explicit_favourable:
            assert decision is not None
            assert decision.notified_on is not None
            a.favourable_from = decision.notified_on
    elif tacit_favourable and birth is not None and a.horizon >= birth:
        a.favourable_from = birth
        a.favourable_tacit = True
    elif (
        explicit_favourable
        and decision is not None
        and decision.notified_on is not None
        and decision.notified_on >= facts.filed_on
    ):
        # A favourable decision after a tacit rejection: a new decision, from its notification.
        a.favourable_from = decision.notified_on
    start = a.favourable_from
    if start is None:
        return
    cu = _is_cu(facts)
    origin = "la naissance de la décision tacite" if a.favourable_tacit else "la notification"
    if not cu:
        a.add(
            "decision_display_limit",
            start + timedelta(days=_DECISION_DISPLAY_DAYS),
            "Affichage de la décision en mairie (au plus tard), pendant 2 mois",
            f"8 jours à compter de {origin}",
            "R424-15 du code de l'urbanisme",
        )
        a.withdrawal_limit = add_months(start, facts.rule_set.withdrawal_months)
        a.add(
            "withdrawal_limit",
            a.withdrawal_limit,
            "Date limite de notification d'un retrait de la décision",
            f"{_months_fr(facts.rule_set.withdrawal_months)} à compter de {origin} ; le retrait "
            "doit être notifié dans ce délai",
            "L424-5 du code de l'urbanisme ; CE 13 février 2012 n°351617",
        )
        if _is_dp(facts) and facts.tree_felling:
            a.add(
                "executory_tree_felling",
                add_months(start, _TREE_FELLING_MONTHS),
                "Non-opposition exécutoire (coupe ou abattage d'arbres)",
                "1 mois après la date à laquelle la non-opposition est acquise",
                "L424-9 du code de l'urbanisme",
            )
    if facts.withdrawal is not None:
        effective, findings = _withdrawal_effect(a, facts.withdrawal.notified_on)
        a.findings.extend(findings)
        a.withdrawn = effective
        if effective:
            return
    if cu:
        end, granted, notes = _prorogated(
            a, add_months(start, facts.rule_set.cu_validity_months), None
        )
        if a.favourable_tacit:
            notes.insert(
                0,
                "certificat tacite : seuls les effets de cristallisation de l'article L410-1 "
                "alinéa 4",
            )
        a.add(
            "cu_validity_end",
            end,
            "Fin de validité du certificat d'urbanisme",
            f"{_months_fr(facts.rule_set.cu_validity_months)} à compter de {origin}"
            + (f", prorogé {granted} fois d'un an" if granted else ""),
            "L410-1 et R410-17 du code de l'urbanisme",
            note="; ".join(notes),
        )
        return
    _validity(a, start, origin)


def _prorogated(a: _Analysis, end: date, maximum: int | None) -> tuple[date, int, list[str]]:
    """End of validity after the prorogations: each granted one, or one asked at least
    ``prorogation_request_months_before`` before the end and met by
    ``prorogation_silence_months`` of silence, adds one year from the current end (R424-21 ff.,
    R410-17, R410-17-1)."""
    rs = a.facts.rule_set
    notes: list[str] = []
    counted = 0
    for p in sorted(a.facts.prorogations, key=lambda p: p.requested_on):
        if maximum is not None and counted >= maximum:
            break
        if p.granted_on is not None:
            counted += 1
            end = add_months(end, 12)
            continue
        limit = add_months(end, -rs.prorogation_request_months_before)
        acquired_on = add_months(p.requested_on, rs.prorogation_silence_months)
        if p.requested_on <= limit and a.horizon > acquired_on:
            counted += 1
            end = add_months(end, 12)
            notes.append(
                f"prorogation demandée le {format_date(p.requested_on)} acquise par silence "
                f"le {format_date(acquired_on + _DAY)}"
            )
    return end, counted, notes


def _validity(a: _Analysis, start: date, origin: str) -> None:
    facts = a.facts
    rs = facts.rule_set
    end, counted, notes = _prorogated(
        a, add_months(start, 12 * rs.validity_years), rs.prorogation_max
    )
    a.prorogations_counted = counted
    if facts.appeal_pending_since is not None and facts.appeal_pending_since <= end:
        if facts.appeal_ended_on is None:
            a.validity_suspended = True
            a.find(
                "validity_suspended",
                f"Recours contentieux depuis le {format_date(facts.appeal_pending_since)} : le "
                "délai de validité est suspendu jusqu'à la décision juridictionnelle "
                "irrévocable.",
                "R424-19 du code de l'urbanisme",
            )
            return
        suspended_days = max((facts.appeal_ended_on - facts.appeal_pending_since).days, 0)
        end += timedelta(days=suspended_days)
        notes.append(f"délai suspendu {suspended_days} jours par un recours contentieux")
    a.validity_end = end
    rule = f"{rs.validity_years} ans à compter de {origin}"
    if counted:
        rule += f", prorogé {counted} fois d'un an"
    a.add(
        "validity_end",
        end,
        "Fin de validité : les travaux doivent avoir commencé",
        rule,
        "R424-17, R424-19 et R424-21 du code de l'urbanisme",
        note="; ".join(notes),
    )
    if counted < rs.prorogation_max and facts.doc_on is None:
        a.add(
            "prorogation_request_limit",
            add_months(end, -rs.prorogation_request_months_before),
            "Date limite pour demander la prorogation",
            f"Au moins {_months_fr(rs.prorogation_request_months_before)} avant la fin de validité",
            "R424-21 et R424-22 du code de l'urbanisme",
        )


def _withdrawal_effect(a: _Analysis, notified: date) -> tuple[bool, list[Finding]]:
    if a.favourable_from is None or a.withdrawal_limit is None:
        return False, [
            Finding(
                "withdrawal_without_decision",
                "Aucune décision favorable (expresse notifiée ou tacite née) ne peut être "
                "retirée à cette date.",
                "L424-5 du code de l'urbanisme",
            )
        ]
    if notified < a.favourable_from:
        return False, [
            Finding(
                "withdrawal_before_decision",
                f"Le retrait notifié le {format_date(notified)} précède la décision "
                f"({format_date(a.favourable_from)}) : vérifiez la date.",
                "L424-5 du code de l'urbanisme",
            )
        ]
    if notified > a.withdrawal_limit:
        return False, [
            Finding(
                "withdrawal_late",
                f"Retrait notifié le {format_date(notified)}, après le "
                f"{format_date(a.withdrawal_limit)} (3 mois) : trop tard, la décision ne peut "
                "plus être retirée, sauf à la demande de son bénéficiaire. C'est la date de "
                "notification qui compte, non celle de la signature.",
                "L424-5 du code de l'urbanisme ; CE 13 février 2012 n°351617",
            )
        ]
    return True, []


def _works(a: _Analysis) -> None:
    facts = a.facts
    if facts.doc_on is not None:
        effective, findings = _opening_effect(a, facts.doc_on)
        a.findings.extend(findings)
        a.doc_effective = effective
    if facts.daact_on is not None:
        effective, findings = _completion_effect(a, facts.daact_on)
        a.findings.extend(findings)
        a.daact_effective = effective
    if not a.daact_effective or facts.daact_on is None:
        return
    daact = facts.daact_on
    rs = facts.rule_set
    months = rs.conformity_months_protected if facts.protected_area else rs.conformity_months
    a.conformity_limit = add_months(daact, months)
    a.add(
        "conformity_limit",
        a.conformity_limit,
        "Fin du délai pour contester la conformité des travaux",
        f"{_months_fr(months)} à compter de la réception de la DAACT"
        + (" (récolement obligatoire)" if facts.protected_area else ""),
        "R462-7 du code de l'urbanisme"
        if facts.protected_area
        else "R462-6 du code de l'urbanisme",
    )
    a.add(
        "appeal_backstop",
        a.franc(daact, _APPEAL_BACKSTOP_MONTHS, "R600-3"),
        "Plus aucun recours en annulation recevable",
        "6 mois à compter de l'achèvement (réception de la DAACT), délai franc, reporté au "
        "premier jour ouvré",
        "R600-3 du code de l'urbanisme",
    )


def _opening_effect(a: _Analysis, opened_on: date) -> tuple[bool, list[Finding]]:
    when = format_date(opened_on)
    if _is_cu(a.facts):
        return False, [
            Finding(
                "opening_not_applicable",
                "Un certificat d'urbanisme n'autorise pas de travaux : pas d'ouverture de chantier.",
                "L410-1 du code de l'urbanisme",
            )
        ]
    if a.favourable_from is None or a.withdrawn or opened_on < a.favourable_from:
        return False, [
            Finding(
                "opening_before_decision",
                f"Ouverture de chantier déclarée au {when} sans autorisation exécutoire à cette "
                "date : la déclaration est sans effet, les travaux sont irréguliers.",
                "R424-16 du code de l'urbanisme",
            )
        ]
    if a.validity_end is not None and opened_on > a.validity_end:
        return False, [
            Finding(
                "opening_after_validity",
                f"Ouverture de chantier au {when}, après la fin de validité "
                f"({format_date(a.validity_end)}) : l'autorisation est périmée, une nouvelle "
                "demande est nécessaire.",
                "R424-17 du code de l'urbanisme",
            )
        ]
    return True, []


def _completion_effect(a: _Analysis, completed_on: date) -> tuple[bool, list[Finding]]:
    doc = a.facts.doc_on
    if not a.doc_effective or doc is None or completed_on < doc:
        return False, [
            Finding(
                "completion_before_opening",
                f"Achèvement déclaré au {format_date(completed_on)} sans ouverture de chantier "
                "valable antérieure : la DAACT est sans effet, enregistrez d'abord la DOC.",
                "R424-16 et R462-1 du code de l'urbanisme",
            )
        ]
    return True, []


def _display(a: _Analysis) -> None:
    display = a.facts.display
    if display is None:
        return
    if not display.mentions_complete:
        a.find(
            "display_missing_appeal_mention",
            "Le panneau d'affichage ne comporte pas la mention « Droit de recours » : le délai "
            "de recours des tiers ne court pas. Seul le délai de 6 mois après l'achèvement "
            "(R600-3) s'applique. Faites compléter le panneau.",
            "R600-2 et A424-17 du code de l'urbanisme",
        )
        return
    if display.interrupted:
        a.find(
            "display_interrupted",
            "L'affichage sur le terrain a été interrompu : le délai de recours des tiers ne "
            "court qu'à compter du premier jour d'une période continue de 2 mois d'affichage.",
            "R600-2 du code de l'urbanisme",
        )
        return
    months = a.facts.rule_set.appeal_months
    a.add(
        "appeal_limit",
        a.franc(display.started_on, months, "R600-2"),
        "Fin du délai de recours des tiers",
        f"{_months_fr(months)} francs à compter du premier jour d'affichage continu sur le "
        "terrain, reporté au premier jour ouvré",
        "R600-2 du code de l'urbanisme ; CE 19 septembre 2014 n°362568",
    )


def _timers(a: _Analysis) -> None:
    if a.effective_request is None and not a.decision_effective:
        a.timers.append(
            TimerPlan(
                kind="urbanism_completeness",
                last_day=a.completeness_limit,
                transition="deem_complete",
                rule="Dossier réputé complet faute de demande de pièces dans le mois",
                reference="R423-22 du code de l'urbanisme",
            )
        )
    if (
        a.effective_request is not None
        and a.pieces_limit is not None
        and (a.suspended or a.pieces_timed_out)
        and not a.decision_effective
    ):
        a.timers.append(
            TimerPlan(
                kind="urbanism_pieces",
                last_day=a.pieces_limit,
                transition="pieces_timeout",
                rule="Pièces manquantes non fournies dans les 3 mois",
                reference="R423-39 b du code de l'urbanisme",
            )
        )
    if a.instruction_deadline is not None and not a.decision_effective:
        rejection = a.tacit_outcome in (TacitOutcome.REJECTION, TacitOutcome.OPPOSITION)
        a.timers.append(
            TimerPlan(
                kind="urbanism_tacit",
                last_day=a.instruction_deadline,
                transition="tacit_rejection" if rejection else "tacit_favourable",
                rule=f"Silence au terme du délai d'instruction : "
                f"{_TACIT_LABELS[a.tacit_outcome or TacitOutcome.GRANTED].lower()}",
                reference="R424-2, R424-2-1, R424-3 du code de l'urbanisme"
                if rejection
                else "R424-1 du code de l'urbanisme",
            )
        )
    if a.conformity_limit is not None:
        a.timers.append(
            TimerPlan(
                kind="urbanism_conformity",
                last_day=a.conformity_limit,
                transition="conformity_acquired",
                rule="Conformité non contestée dans le délai",
                reference="R462-6 et R462-7 du code de l'urbanisme",
            )
        )


def _horizon(today: date | None) -> date:
    return today if today is not None else date.max
