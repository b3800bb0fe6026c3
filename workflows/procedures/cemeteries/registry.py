"""The cemetery registry service: async functions taking a ``session`` and the ``tenant_id``.

Procedures (``C2``'s projector), document contexts and the API call these; none of them commits
(the caller's transaction does). Every lookup filters on the tenant first and answers NotFound for
another tenant's row, in the same words as for a missing one. Refusals are
``services.kernel.errors`` with a French ``detail``: NotFound, Conflict (the registry's state
forbids it), ValidationFailed (per-field ``errors``).

Places (``_registry_places``)
    ``create_cemetery(session, tenant_id, CemeteryIn, now=)``, ``get_cemetery``, ``find_cemetery``,
    ``list_cemeteries``; ``create_place(session, tenant_id, cemetery_id, PlaceIn, now=)`` (zone and
    alley created when missing), ``get_place(session, tenant_id, place_id, lock=False)``,
    ``free_places(session, tenant_id, cemetery_id=None, place_type=None)``,
    ``occupancy(session, place_id) -> Decimal``, ``place_reads(session, places)``,
    ``ossuary_of(session, tenant_id, cemetery_id)``, ``container_weight(container)``,
    ``tenant_by_insee(session, insee)``.
Concessions (``_registry_concessions``)
    ``attribute_concession(session, tenant_id, ConcessionIn, now=, case_id=None)`` (row lock on the
    place + UNIQUE ``active_place_id``: of two simultaneous attributions one wins, the other gets
    Conflict); ``renew_concession(session, tenant_id, concession_id, duration_kind=,
    duration_years=, price=, payment_ref=, paid_on=, granted_on=, now=, case_id=)`` (new row from
    the old term); ``convert_concession(..., on_date=, ...)`` (longer duration only, not expired);
    ``set_concession_status(session, tenant_id, concession_id, ConcessionStatus, now=)``
    (``ALLOWED_STATUS_CHANGES``); ``record_renewal_info_sent(..., at=)``;
    ``expire_due_concessions(session, tenant_id, today=, now=)``; ``get_concession``,
    ``find_concession(session, tenant_id, number)``, ``holding_concession(session, place_id)``,
    ``parties_of``, ``add_party``, ``end_party``, ``concession_read``, ``term_of``,
    ``duration_years_of``.
Operations (``_registry_operations``)
    ``record_operation(session, tenant_id, OperationIn, now=, case_id=None, actor_id=None)``
    (capacity, urn-only places, R2223-5 terrain commun rotation, live concession required);
    ``move_to_ossuary(session, tenant_id, deceased_id, on=, now=, ossuary_place_id=None,
    cremate=False, ...)`` (public register line, refused cremation kept apart);
    ``execute_reprise(session, tenant_id, concession_id, on=, now=, ...)``;
    ``ossuary_register(session, tenant_id, cemetery_id=None)``;
    ``place_history(session, tenant_id, place_id)``; ``get_deceased``.
"""

from __future__ import annotations

from workflows.procedures.cemeteries._registry_concessions import (
    ALLOWED_STATUS_CHANGES,
    CONCESSION_NOT_FOUND,
    TEMPORARY_MAX_YEARS,
    add_party,
    attribute_concession,
    concession_read,
    duration_years_of,
    end_party,
    expire_due_concessions,
    find_concession,
    get_concession,
    holding_concession,
    next_concession_number,
    parties_of,
    record_renewal_info_sent,
    set_concession_status,
    term_of,
)
from workflows.procedures.cemeteries._registry_operations import (
    execute_reprise,
    place_history,
    record_operation,
)
from workflows.procedures.cemeteries._registry_ossuary import (
    DECEASED_NOT_FOUND,
    get_deceased,
    local_date,
    move_to_ossuary,
    ossuary_register,
)
from workflows.procedures.cemeteries._registry_places import (
    CEMETERY_NOT_FOUND,
    PLACE_NOT_FOUND,
    TENANT_NOT_FOUND,
    container_weight,
    create_cemetery,
    create_place,
    ensure_alley,
    ensure_zone,
    find_cemetery,
    free_places,
    get_cemetery,
    get_place,
    list_cemeteries,
    occupancy,
    ossuary_of,
    place_reads,
    tenant_by_insee,
)
from workflows.procedures.cemeteries._registry_renewals import (
    convert_concession,
    renew_concession,
)
from workflows.procedures.cemeteries._registry_schemas import (
    AlleyIn,
    CemeteryIn,
    CemeteryRead,
    ConcessionIn,
    ConcessionRead,
    DeceasedIn,
    DeceasedRead,
    OperationIn,
    OperationRead,
    OssuaryEntryPublic,
    PartyIn,
    PartyRead,
    PlaceHistory,
    PlaceIn,
    PlaceRead,
    ZoneIn,
)
from workflows.procedures.cemeteries._registry_settings import RegistrySettings, registry_settings

__all__ = [
    "ALLOWED_STATUS_CHANGES",
    "CEMETERY_NOT_FOUND",
    "CONCESSION_NOT_FOUND",
    "DECEASED_NOT_FOUND",
    "PLACE_NOT_FOUND",
    "TEMPORARY_MAX_YEARS",
    "TENANT_NOT_FOUND",
    "AlleyIn",
    "CemeteryIn",
    "CemeteryRead",
    "ConcessionIn",
    "ConcessionRead",
    "DeceasedIn",
    "DeceasedRead",
    "OperationIn",
    "OperationRead",
    "OssuaryEntryPublic",
    "PartyIn",
    "PartyRead",
    "PlaceHistory",
    "PlaceIn",
    "PlaceRead",
    "RegistrySettings",
    "ZoneIn",
    "add_party",
    "attribute_concession",
    "concession_read",
    "container_weight",
    "convert_concession",
    "create_cemetery",
    "create_place",
    "duration_years_of",
    "end_party",
    "ensure_alley",
    "ensure_zone",
    "execute_reprise",
    "expire_due_concessions",
    "find_cemetery",
    "find_concession",
    "free_places",
    "get_cemetery",
    "get_concession",
    "get_deceased",
    "get_place",
    "holding_concession",
    "list_cemeteries",
    "local_date",
    "move_to_ossuary",
    "next_concession_number",
    "occupancy",
    "ossuary_of",
    "ossuary_register",
    "parties_of",
    "place_history",
    "place_reads",
    "record_operation",
    "record_renewal_info_sent",
    "registry_settings",
    "renew_concession",
    "set_concession_status",
    "tenant_by_insee",
    "term_of",
]
