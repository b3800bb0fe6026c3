"""The deposit API for suppliers' software, under ``/api/v1/espace-fournisseur/{insee}/depots``:

- ``POST …/depots``: one invoice, as the raw body (``application/xml`` / ``text/xml``: UBL 2.1
  Invoice or CreditNote, CII D16B; ``application/pdf``: Factur-X) or in the ``facture`` field of
  a ``multipart/form-data`` form, with an ``Idempotency-Key`` header. Answers 201 at once with
  the validation result (200 when the same key and document were already deposited);
- ``GET …/depots``: the client's deposits, newest first; ``GET …/depots/{depot_id}``: one.

Only an API client of an organisation (a business), in its own commune, deposits and reads; a
deposit is seen by the client that made it only (others: 404). See ``channels.einvoice.deposit``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from channels.attachments.controllers import unsupported_file_handler
from channels.attachments.service import UnsupportedFile
from channels.einvoice import deposit as dep
from channels.einvoice.validation.settings import get_validation_settings
from services.kernel.actor import Actor
from services.kernel.clock import Clock
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.controllers import SUPPLIER, SUPPLIER_WRITE

HARD_CEILING = 1024 * 1024 * 1024
"""Litestar's own body limit for this route; the real limit (GUICHET_EINVOICE_MAX_BYTES) is
checked by the handler, on the declared length first, then while reading."""
Insee = Annotated[
    str,
    PathParameter(pattern=r"^[0-9][0-9AB][0-9]{3}$", description="Code INSEE", max_length=5),
]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Nombre au plus")]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="À partir de")]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        description="Obligatoire : une clé par facture (1 à 200 caractères imprimables).",
    ),
]


class DepositController(Controller):
    path = "/espace-fournisseur/{insee:str}/depots"
    tags = ["Factures fournisseurs"]
    exception_handlers = {UnsupportedFile: unsupported_file_handler}

    @post(
        "/",
        opt=SUPPLIER_WRITE,
        status_code=201,
        request_max_body_size=HARD_CEILING,
        summary="Déposer une facture électronique (contrôle immédiat ; dossier si la commune "
        "l'accepte)",
        description="Corps brut (application/xml, text/xml : UBL 2.1 ou CII D16B ; "
        "application/pdf : Factur-X) ou formulaire multipart/form-data avec le fichier dans le "
        "champ « facture ». En-tête Idempotency-Key obligatoire : même clé et même facture → "
        "même dépôt (200), même clé et autre facture → 409. 413 au-delà de la taille maximale, "
        "415 pour un autre type de contenu.",
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        engine: NamedDependency[Engine],
        clock: NamedDependency[Clock],
        insee: Insee,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[dep.DepotRead]:
        who = await dep.depositor(session, actor, insee)
        key = dep.idempotency_key(idempotency_key)
        content_type = request.headers.get("content-type")
        kind = dep.check_media_type(content_type)
        limit = get_validation_settings().max_bytes
        framing = dep.MULTIPART_OVERHEAD if kind == dep.MULTIPART else 0
        body = await dep.read_body(
            request.stream(), declared_length=request.content_length, limit=limit + framing
        )
        if not body.strip():
            raise dep.BadDeposit(
                "Le corps de la requête est vide : envoyez la facture (XML UBL ou CII, ou PDF "
                "Factur-X)."
            )
        if kind == dep.MULTIPART:
            upload = dep.parse_form(body, content_type or "", limit=limit)
        else:
            upload = dep.Upload(body, kind, None)
        answer, created = await dep.deposit(session, engine, clock, who, key, upload)
        return Response(answer, status_code=201 if created else 200)

    @get("/", opt=SUPPLIER, summary="Mes dépôts de factures, du plus récent au plus ancien")
    async def list_deposits(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> dep.DepotPage:
        who = await dep.depositor(session, actor, insee)
        return await dep.list_deposits(session, who, limit=limit, offset=offset)

    @get("/{depot_id:uuid}", opt=SUPPLIER, summary="Un de mes dépôts et son résultat")
    async def get_deposit(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        insee: Insee,
        depot_id: FromPath[uuid.UUID],
    ) -> dep.DepotRead:
        who = await dep.depositor(session, actor, insee)
        return await dep.get_deposit(session, who, depot_id)
