"""The real Chorus Pro adapter: PISTE OAuth2 + the ``cpro-account`` header, over httpx.

- Token: client credentials at the PISTE token URL, cached until 60 s before it expires; a 401
  from the API drops it and the call is tried once more with a fresh one.
- Every API call: ``Authorization: Bearer``, ``cpro-account: base64(login:password)`` (the
  technical account), JSON in and out; ``codeRetour`` other than 0 is a ``ChorusRefused``.
- 5xx, 429 (``Retry-After`` honoured, capped), timeouts and network errors are retried with an
  exponential backoff, then ``ChorusUnavailable``.

Field names confirmed on the Chorus Pro community API pages (rechercherFactureParRecipiendaire,
telechargerGroupeFacture, traiterFactureRecue): ``idDestinataire``, ``periodeDateDepotDu``,
``paramRecherche``/``pageResultatDemandee``/``nbResultatsParPage``/``triSens``/``triColonne``,
``listeFactures``/``idFacture``/``numeroFacture``/``codeDestinataire``/``codeFournisseur``/
``designationFournisseur``/``statut``/``dateDepot``, ``pageCourante``/``pages``, ``listeFacture``/
``format``/``fichierResultat``, ``nouveauStatut``/``motif``/``NumeroDPMandat``/
``dateTraitement``, ``codeRetour``/``libelle``. **[unverified]**: the PISTE paths (``/cpro/
factures/v1/...``, as the community SDKs use them), the structure search
(``/cpro/structures/v1/rechercher``, ``listeStructures``/``idStructureCPP``), the status history
(``/cpro/factures/v1/consulter/historique``, ``historiquesDesStatuts``/``histoStatut``/
``statutCode``/``statutDateHeure``) and ``consulter/recipiendaire`` → ``facture.statut``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from channels.einvoice.chorus.port import (
    ChorusAuthError,
    ChorusNotConfigured,
    ChorusProtocolError,
    ChorusRefused,
    ChorusUnavailable,
    PushResult,
    ReceivedSummary,
    SearchPage,
)
from channels.einvoice.chorus.settings import ChorusSettings

PARIS = ZoneInfo("Europe/Paris")
SEARCH = "/cpro/factures/v1/rechercher/recipiendaire"
CONSULT = "/cpro/factures/v1/consulter/recipiendaire"
HISTORY = "/cpro/factures/v1/consulter/historique"
DOWNLOAD = "/cpro/factures/v1/telecharger/groupe"
PROCESS = "/cpro/factures/v1/traiter/factureRecue"
STRUCTURES = "/cpro/structures/v1/rechercher"
MAX_RETRY_AFTER = 30.0
MAX_MOTIF = 2_000  # [unverified] Chorus Pro's limit on ``motif``

Sleep = Callable[[float], Awaitable[None]]


def _text(value: Any, field: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ChorusProtocolError(
            f"Réponse de Chorus Pro inattendue : le champ « {field} » manque ou n'est pas un "
            "texte. Réessayez ; si cela persiste, signalez-le à l'AIFE."
        )
    return str(value)


def _day(value: Any, field: str) -> date:
    text = _text(value, field) or ""
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ChorusProtocolError(
            f"Réponse de Chorus Pro inattendue : la date « {field} » ({text[:40]!r}) est illisible."
        ) from None


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            return datetime.combine(date.fromisoformat(text[:10]), time(0), PARIS)
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=PARIS)


def _unzip(data: bytes, limit: int) -> bytes:
    """The invoice file of a downloaded ZIP (the first XML or PDF entry), size-checked."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError):
        raise ChorusProtocolError(
            "Le fichier téléchargé depuis Chorus Pro est une archive ZIP illisible."
        ) from None
    chosen = next(
        (i for i in entries if i.filename.lower().endswith((".xml", ".pdf"))),
        entries[0] if entries else None,
    )
    if chosen is None:
        raise ChorusProtocolError("L'archive téléchargée depuis Chorus Pro est vide.")
    if chosen.file_size > limit:
        raise ChorusProtocolError(
            f"Le fichier « {chosen.filename[:60]} » téléchargé depuis Chorus Pro dépasse "
            f"{limit // (1024 * 1024)} Mo."
        )
    with archive.open(chosen) as handle:
        content = handle.read(limit + 1)
    if len(content) > limit:
        raise ChorusProtocolError("Le fichier téléchargé depuis Chorus Pro est trop gros.")
    return content


class ChorusProHttp:
    """``ChorusProPort`` over HTTP. Use as an async context manager (one httpx client)."""

    def __init__(
        self,
        settings: ChorusSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings or ChorusSettings()
        self._client = client
        self._own_client = client is None
        self._sleep = sleep
        self._token: str | None = None
        self._token_until: datetime | None = None

    async def __aenter__(self) -> ChorusProHttp:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.timeout_seconds), follow_redirects=False
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None and self._own_client:
            await self._client.aclose()
            self._client = None

    # ----- transport ---------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.timeout_seconds), follow_redirects=False
            )
        return self._client

    async def _send(
        self, build: Callable[[], Awaitable[httpx.Response]], what: str
    ) -> httpx.Response:
        """One call with retries on 5xx, 429, timeouts and network errors."""
        attempts = self.settings.max_attempts
        delay = self.settings.backoff_seconds
        last = ""
        for attempt in range(1, attempts + 1):
            try:
                response = await build()
            except httpx.TimeoutException:
                last = "délai dépassé"
            except httpx.HTTPError as exc:
                last = f"erreur réseau ({type(exc).__name__})"
            else:
                if response.status_code < 500 and response.status_code != 429:
                    return response
                last = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    wait = _retry_after(response.headers.get("retry-after"))
                    if wait is not None and attempt < attempts:
                        await self._sleep(min(max(wait, delay), MAX_RETRY_AFTER))
                        delay *= 2
                        continue
            if attempt < attempts:
                await self._sleep(delay)
                delay *= 2
        raise ChorusUnavailable(
            f"Chorus Pro ne répond pas ({what} : {last}, {attempts} essai(s)). Rien n'est perdu : "
            "l'opération sera reprise au prochain passage."
        )

    async def _token_value(self) -> str:
        settings = self.settings
        if not settings.configured:
            raise ChorusNotConfigured(
                "Chorus Pro n'est pas configuré : renseignez GUICHET_CHORUS_CLIENT_ID, "
                "GUICHET_CHORUS_CLIENT_SECRET, GUICHET_CHORUS_LOGIN et GUICHET_CHORUS_PASSWORD "
                "(voir le README, section Chorus Pro)."
            )
        now = datetime.now(UTC)
        if self._token and self._token_until and now < self._token_until:
            return self._token

        async def call() -> httpx.Response:
            return await self.client.post(
                settings.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": settings.client_id,
                    "client_secret": settings.client_secret.get_secret_value(),
                    "scope": "openid",
                },
                headers={"Accept": "application/json"},
            )

        response = await self._send(call, "jeton PISTE")
        if response.status_code in (400, 401, 403):
            raise ChorusAuthError(
                f"PISTE a refusé l'application (HTTP {response.status_code}) : vérifiez "
                "GUICHET_CHORUS_CLIENT_ID et GUICHET_CHORUS_CLIENT_SECRET et que l'application "
                "est abonnée à l'API Factures de Chorus Pro."
            )
        body = _json(response, "jeton PISTE")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ChorusProtocolError("PISTE n'a pas renvoyé de jeton d'accès (access_token).")
        expires = body.get("expires_in")
        seconds = float(expires) if isinstance(expires, int | float) else 600.0
        self._token = token
        self._token_until = now + timedelta(seconds=max(seconds - 60.0, 0.0))
        return token

    def _account(self) -> str:
        raw = f"{self.settings.login}:{self.settings.password.get_secret_value()}"
        return base64.b64encode(raw.encode("utf-8")).decode("ascii")

    async def call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST ``body`` to an API path; the decoded answer when ``codeRetour`` is 0."""
        url = self.settings.api_base_url.rstrip("/") + path
        for fresh in (False, True):
            token = await self._token_value()

            async def send(token: str = token) -> httpx.Response:
                return await self.client.post(
                    url,
                    json=dict(body),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "cpro-account": self._account(),
                        "Content-Type": "application/json;charset=utf-8",
                        "Accept": "application/json",
                    },
                )

            response = await self._send(send, path)
            if response.status_code == 401 and not fresh:
                self._token = None  # expired or revoked: one more try with a new token
                continue
            break
        if response.status_code in (401, 403):
            raise ChorusAuthError(
                f"Chorus Pro a refusé l'accès (HTTP {response.status_code}) : vérifiez le compte "
                "technique (GUICHET_CHORUS_LOGIN / GUICHET_CHORUS_PASSWORD) et son rattachement "
                "à la structure."
            )
        data = _json(response, path)
        code = data.get("codeRetour")
        if response.status_code >= 400 or (code not in (0, "0", None)):
            label = str(data.get("libelle") or f"HTTP {response.status_code}")[:300]
            raise ChorusRefused(
                f"Chorus Pro a refusé la demande ({path}) : {label} (code {code}).",
                code=str(code),
                label=label,
            )
        return data

    # ----- ChorusProPort ----------------------------------------------------------------------

    def _user(self) -> dict[str, Any]:
        uid = self.settings.user_id
        return {"idUtilisateurCourant": uid} if uid is not None else {}

    async def structure_id(self, siret: str) -> str:
        data = await self.call(
            STRUCTURES,
            {
                "structure": {"identifiantStructure": siret, "typeIdentifiantStructure": "SIRET"},
                "restreindreStructuresPrivees": False,
            },
        )
        rows = data.get("listeStructures")
        if not isinstance(rows, list):
            raise ChorusProtocolError("Réponse de Chorus Pro inattendue : pas de listeStructures.")
        for row in rows:
            if isinstance(row, dict) and str(row.get("identifiantStructure")) == siret:
                return _text(row.get("idStructureCPP"), "idStructureCPP") or ""
        raise ChorusRefused(
            f"Aucune structure Chorus Pro n'a le SIRET {siret} : vérifiez le SIRET déclaré pour "
            "la collectivité.",
            code="STRUCTURE_INCONNUE",
            label="structure inconnue",
        )

    async def search_received(
        self, structure_id: str, *, since: date | None, page: int = 1
    ) -> SearchPage:
        body: dict[str, Any] = {
            **self._user(),
            "idDestinataire": int(structure_id) if structure_id.isdigit() else structure_id,
            "periodeDateDepotDu": since.isoformat() if since else None,
            "paramRecherche": {
                "pageResultatDemandee": page,
                "nbResultatsParPage": self.settings.page_size,
                "triSens": "Ascendant",
                "triColonne": "DateDepot",
            },
        }
        data = await self.call(SEARCH, body)
        rows = data.get("listeFactures")
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            raise ChorusProtocolError("Réponse de Chorus Pro inattendue : listeFactures.")
        invoices = []
        for row in rows:
            if not isinstance(row, dict):
                raise ChorusProtocolError("Réponse de Chorus Pro inattendue : ligne de facture.")
            invoices.append(
                ReceivedSummary(
                    chorus_id=_text(row.get("idFacture"), "idFacture") or "",
                    number=(_text(row.get("numeroFacture"), "numeroFacture") or "")[:200],
                    recipient_siret=_text(row.get("codeDestinataire"), "codeDestinataire") or "",
                    supplier_code=_text(
                        row.get("codeFournisseur"), "codeFournisseur", optional=True
                    ),
                    supplier_name=_text(
                        row.get("designationFournisseur"), "designationFournisseur", optional=True
                    ),
                    status=_text(row.get("statut"), "statut") or "",
                    deposited_on=_day(row.get("dateDepot"), "dateDepot"),
                )
            )
        current = data.get("pageCourante")
        pages = data.get("pages")
        return SearchPage(
            invoices=tuple(invoices),
            page=current if isinstance(current, int) else page,
            pages=pages if isinstance(pages, int) else page,
        )

    async def made_available_at(self, chorus_id: str) -> datetime | None:
        data = await self.call(HISTORY, {**self._user(), "idFacture": _id(chorus_id)})
        history = data.get("historiquesDesStatuts")
        rows = history.get("histoStatut") if isinstance(history, dict) else None
        if not isinstance(rows, list):
            return None
        found = [
            _instant(row.get("statutDateHeure"))
            for row in rows
            if isinstance(row, dict) and row.get("statutCode") == "MISE_A_DISPOSITION"
        ]
        dated = [d for d in found if d is not None]
        return min(dated) if dated else None

    async def current_status(self, chorus_id: str) -> str:
        data = await self.call(CONSULT, {**self._user(), "identifiantFactureCPP": _id(chorus_id)})
        invoice = data.get("facture")
        if not isinstance(invoice, dict):
            raise ChorusProtocolError("Réponse de Chorus Pro inattendue : pas de facture.")
        return _text(invoice.get("statut"), "statut") or ""

    async def download(self, chorus_id: str) -> bytes:
        data = await self.call(
            DOWNLOAD,
            {
                **self._user(),
                "listeFacture": [{"idFacture": _id(chorus_id)}],
                "format": self.settings.download_format,
                "avecPiecesJointesComplementaires": False,
            },
        )
        encoded = data.get("fichierResultat")
        if not isinstance(encoded, str) or not encoded:
            raise ChorusProtocolError("Chorus Pro n'a pas renvoyé de fichier (fichierResultat).")
        limit = self.settings.max_download_bytes
        if len(encoded) > limit * 4 // 3 + 8:
            raise ChorusProtocolError("Le fichier téléchargé depuis Chorus Pro est trop gros.")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ChorusProtocolError(
                "Le fichier téléchargé depuis Chorus Pro n'est pas du base64 valide."
            ) from None
        if raw.startswith(b"PK\x03\x04"):
            return _unzip(raw, limit)
        return raw

    async def push_status(
        self,
        chorus_id: str,
        status: str,
        *,
        reason: str | None = None,
        mandate_number: str | None = None,
    ) -> PushResult:
        body: dict[str, Any] = {
            **self._user(),
            "idFacture": _id(chorus_id),
            "nouveauStatut": status,
        }
        if reason:
            body["motif"] = reason[:MAX_MOTIF]
        if mandate_number:
            body["NumeroDPMandat"] = mandate_number
        data = await self.call(PROCESS, body)
        processed = data.get("dateTraitement")
        return PushResult(
            chorus_id=chorus_id,
            status=str(data.get("nouveauStatut") or status),
            processed_on=_day(processed, "dateTraitement") if processed else None,
        )


def _id(chorus_id: str) -> int | str:
    return int(chorus_id) if chorus_id.isdigit() else chorus_id


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise ChorusProtocolError(
            f"Réponse de Chorus Pro illisible ({what}, HTTP {response.status_code}) : ce n'est "
            "pas du JSON. Rien n'est perdu : l'opération sera reprise au prochain passage."
        ) from None
    if not isinstance(data, dict):
        raise ChorusProtocolError(
            f"Réponse de Chorus Pro inattendue ({what}) : un objet JSON était attendu."
        )
    return data
