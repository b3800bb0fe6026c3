"""The cemetery rules of the CGCT, as pure functions (no database, no framework).

Each rule returns a ``Verdict`` (allowed, French reason, legal reference, computed details) or a
computed value; ``Verdict.require()`` turns a refusal into a 422 problem. Dates are legal dates
(Europe/Paris) computed with ``workflows.engine.calendar``. What the texts leave open is a
setting (``settings.CemeterySettings``, ``GUICHET_CEMETERY_*``) with its default documented.
"""

from __future__ import annotations

from workflows.procedures.cemeteries._rules_abandon import (
    abandon_wait_years,
    check_abandon_eligibility,
    check_abandon_notice,
    check_council_referral,
    check_removal,
    check_second_finding,
    council_referral_earliest,
    removal_earliest,
    second_finding_earliest,
)
from workflows.procedures.cemeteries._rules_burial import (
    FAMILY_RELATIONSHIPS,
    BurialWindow,
    OssuaryDisposition,
    PrefectDerogation,
    burial_window,
    check_burial_time,
    ossuary_disposition,
    right_to_burial_in_commune,
    right_to_burial_in_concession,
    terrain_commun_reusable,
)
from workflows.procedures.cemeteries._rules_common import Verdict, add_years
from workflows.procedures.cemeteries._rules_concession import (
    check_conversion,
    check_donation,
    check_renewal,
    check_reprise_after_term,
    renewal_window_end,
    time_left_fraction,
)
from workflows.procedures.cemeteries._rules_operations import (
    RANK,
    check_exhumation_attendance,
    check_exhumation_request,
    follows_exhumation_rules,
    may_open_coffin,
    silence_means_rejection,
    silence_setting_for,
)

__all__ = [
    "FAMILY_RELATIONSHIPS",
    "RANK",
    "BurialWindow",
    "OssuaryDisposition",
    "PrefectDerogation",
    "Verdict",
    "abandon_wait_years",
    "add_years",
    "burial_window",
    "check_abandon_eligibility",
    "check_abandon_notice",
    "check_burial_time",
    "check_conversion",
    "check_council_referral",
    "check_donation",
    "check_exhumation_attendance",
    "check_exhumation_request",
    "check_removal",
    "check_renewal",
    "check_reprise_after_term",
    "check_second_finding",
    "council_referral_earliest",
    "follows_exhumation_rules",
    "may_open_coffin",
    "ossuary_disposition",
    "removal_earliest",
    "renewal_window_end",
    "right_to_burial_in_commune",
    "right_to_burial_in_concession",
    "second_finding_earliest",
    "silence_means_rejection",
    "silence_setting_for",
    "terrain_commun_reusable",
    "time_left_fraction",
]
