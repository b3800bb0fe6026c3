"""A faithful local stand-in of the Chorus Pro API (PISTE), for tests and local trials.

It answers the calls the adapter (``http.py``) makes, with the same field names, and keeps its
own in-memory store of invoices per recipient SIRET:

- ``POST /api/oauth/token`` — OAuth2 client credentials (form); 401 ``invalid_client`` otherwise;
- every ``/cpro/...`` call requires ``Authorization: Bearer <token>`` and the ``cpro-account``
  header (base64 ``login:password`` of the technical account): 401 otherwise, answered as
  Chorus Pro answers errors, ``{"codeRetour": …, "libelle": …}``;
- ``/cpro/structures/v1/rechercher``, ``/cpro/factures/v1/rechercher/recipiendaire``,
  ``/consulter/recipiendaire``, ``/consulter/historique``, ``/telecharger/groupe`` (a base64 ZIP of
  the deposited file), ``/traiter/factureRecue`` (the recipient's statuses, a ``motif`` required to
  reject or suspend, transitions checked);
- the supplier's side, for trials: ``POST /_standin/deposer`` (deposit a file for a SIRET),
  ``GET /_standin/factures/{id}`` (what the supplier sees: status, history, reasons) and
  ``POST /_standin/factures/{id}/completer`` (the supplier completes a suspended invoice).

Faults can be injected (``ChorusStandin.fail``): an HTTP status or a malformed body for the next
N calls of a path. The error codes (``codeRetour``) are the stand-in's own; the real platform's
numbering is not public in full **[unverified]**.

Run it: ``python -m channels.einvoice.chorus.standin --port 8765`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import secrets
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

SUCCESS = {"codeRetour": 0, "libelle": "TRA_MSG_00.000"}

RECIPIENT_MOVES: dict[str, frozenset[str]] = {
    "MISE_A_DISPOSITION": frozenset(
        {"SERVICE_FAIT", "SUSPENDUE", "REJETEE", "MANDATEE", "A_RECYCLER"}
    ),
    "COMPLETEE": frozenset({"SERVICE_FAIT", "SUSPENDUE", "REJETEE", "MANDATEE"}),
    "SERVICE_FAIT": frozenset({"MANDATEE", "SUSPENDUE", "REJETEE"}),
    "SUSPENDUE": frozenset({"REJETEE"}),
    "MANDATEE": frozenset({"MISE_A_DISPOSITION_COMPTABLE", "MISE_EN_PAIEMENT"}),
    "MISE_A_DISPOSITION_COMPTABLE": frozenset({"COMPTABILISEE", "MISE_EN_PAIEMENT"}),
    "COMPTABILISEE": frozenset({"MISE_EN_PAIEMENT"}),
}
NEEDS_MOTIF = frozenset({"REJETEE", "SUSPENDUE", "A_RECYCLER"})
MAX_BODY = 2 * 1024 * 1024


@dataclass
class StatusEntry:
    status: str
    at: datetime
    motif: str | None = None
    by: str = "plateforme"


@dataclass
class StandinInvoice:
    id: int
    recipient_siret: str
    number: str
    supplier_code: str
    supplier_name: str
    file_name: str
    content: bytes
    deposited_at: datetime
    made_available_at: datetime
    status: str = "MISE_A_DISPOSITION"
    history: list[StatusEntry] = field(default_factory=list)
    downloaded: bool = False
    mandate_number: str | None = None

    def supplier_view(self) -> dict[str, Any]:
        return {
            "idFacture": self.id,
            "numeroFacture": self.number,
            "codeDestinataire": self.recipient_siret,
            "statut": self.status,
            "numeroDPMandat": self.mandate_number,
            "historique": [
                {
                    "statut": e.status,
                    "date": e.at.isoformat(),
                    "motif": e.motif,
                    "acteur": e.by,
                }
                for e in self.history
            ],
        }


@dataclass
class Fault:
    path: str
    status: int
    times: int
    body: bytes | None = None


@dataclass
class ChorusStandin:
    """The stand-in's state (thread-safe: the server runs in its own thread)."""

    client_id: str = "standin-client"
    client_secret: str = "standin-secret"
    login: str = "standin-login"
    password: str = "standin-password"
    token_ttl: int = 3600
    structures: dict[str, int] = field(default_factory=dict)
    invoices: dict[int, StandinInvoice] = field(default_factory=dict)
    tokens: dict[str, datetime] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    """Every accepted traiter/factureRecue, in order."""
    calls: list[tuple[str, int]] = field(default_factory=list)
    """(path, HTTP status) of every call answered."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    _next_id: int = 1000

    # ----- setup (the tests' and the supplier's side) -----------------------------------------

    def structure(self, siret: str) -> int:
        with self.lock:
            if siret not in self.structures:
                self.structures[siret] = 25_000_000 + len(self.structures) + 1
            return self.structures[siret]

    def deposit(
        self,
        siret: str,
        content: bytes,
        *,
        number: str,
        file_name: str = "facture.xml",
        supplier_code: str = "12345678200077",
        supplier_name: str = "LE FOURNISSEUR",
        deposited_at: datetime | None = None,
        made_available_at: datetime | None = None,
    ) -> int:
        """A supplier deposits an invoice for ``siret``; it is made available at once (or at
        ``made_available_at``)."""
        self.structure(siret)
        deposited = deposited_at or datetime.now(UTC)
        available = made_available_at or deposited + timedelta(minutes=5)
        with self.lock:
            self._next_id += 1
            invoice = StandinInvoice(
                id=self._next_id,
                recipient_siret=siret,
                number=number,
                supplier_code=supplier_code,
                supplier_name=supplier_name,
                file_name=file_name,
                content=content,
                deposited_at=deposited,
                made_available_at=available,
                history=[
                    StatusEntry("DEPOSEE", deposited, by="fournisseur"),
                    StatusEntry("MISE_A_DISPOSITION", available),
                ],
            )
            self.invoices[invoice.id] = invoice
            return invoice.id

    def complete(self, invoice_id: int, comment: str = "Pièces ajoutées") -> None:
        with self.lock:
            invoice = self.invoices[invoice_id]
            if invoice.status != "SUSPENDUE":
                raise ValueError(f"facture {invoice_id} non suspendue ({invoice.status})")
            invoice.status = "COMPLETEE"
            invoice.history.append(
                StatusEntry("COMPLETEE", datetime.now(UTC), comment, by="fournisseur")
            )

    def fail(
        self, path: str, status: int = 503, *, times: int = 1, body: bytes | None = None
    ) -> None:
        """The next ``times`` calls whose path ends with ``path`` answer ``status`` (and
        ``body`` raw when given, e.g. malformed JSON)."""
        with self.lock:
            self.faults.append(Fault(path, status, times, body))

    def invalidate_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def pushes_for(self, invoice_id: int) -> list[str]:
        with self.lock:
            return [p["nouveauStatut"] for p in self.pushes if p["idFacture"] == invoice_id]

    # ----- internals --------------------------------------------------------------------------

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if path.endswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None


def _error(status: int, code: int | str, label: str) -> Response[Any]:
    return Response({"codeRetour": code, "libelle": label}, status_code=status)


def _answer(standin: ChorusStandin, path: str, response: Response[Any]) -> Response[Any]:
    with standin.lock:
        standin.calls.append((path, response.status_code or 200))
    return response


def _fault_response(fault: Fault) -> Response[Any]:
    if fault.body is not None:
        return Response(
            fault.body, status_code=fault.status, media_type="application/json;charset=utf-8"
        )
    return _error(fault.status, fault.status, f"Erreur simulée HTTP {fault.status}")


async def _body(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return None
    try:
        import json

        data = json.loads(raw or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def create_app(standin: ChorusStandin) -> Litestar:
    """The stand-in's ASGI app over ``standin``'s state."""

    def authorised(request: Request[Any, Any, Any]) -> Response[Any] | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        with standin.lock:
            until = standin.tokens.get(token)
        if until is None or until < datetime.now(UTC):
            return _error(401, 401, "Jeton d'accès absent, invalide ou expiré.")
        account = request.headers.get("cpro-account", "")
        try:
            decoded = base64.b64decode(account, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            decoded = ""
        if decoded != f"{standin.login}:{standin.password}":
            return _error(401, 401, "Compte technique (cpro-account) absent ou invalide.")
        return None

    async def guarded(
        request: Request[Any, Any, Any],
    ) -> tuple[dict[str, Any] | None, Response[Any] | None]:
        path = request.url.path
        fault = standin.take_fault(path)
        if fault is not None:
            return None, _answer(standin, path, _fault_response(fault))
        denied = authorised(request)
        if denied is not None:
            return None, _answer(standin, path, denied)
        body = await _body(request)
        if body is None:
            return None, _answer(
                standin, path, _error(400, 20001, "Requête invalide : un objet JSON est attendu.")
            )
        return body, None

    @post("/api/oauth/token", status_code=200)
    async def token(request: Request[Any, Any, Any]) -> Response[Any]:
        path = request.url.path
        fault = standin.take_fault(path)
        if fault is not None:
            return _answer(standin, path, _fault_response(fault))
        form = await request.form()
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != standin.client_id
            or form.get("client_secret") != standin.client_secret
        ):
            return _answer(
                standin,
                path,
                Response(
                    {
                        "error": "invalid_client",
                        "error_description": "Client authentication failed",
                    },
                    status_code=401,
                ),
            )
        value = secrets.token_urlsafe(24)
        with standin.lock:
            standin.tokens[value] = datetime.now(UTC) + timedelta(seconds=standin.token_ttl)
        return _answer(
            standin,
            path,
            Response(
                {
                    "access_token": value,
                    "token_type": "Bearer",
                    "expires_in": standin.token_ttl,
                    "scope": "openid",
                }
            ),
        )

    @post("/cpro/structures/v1/rechercher", status_code=200)
    async def structures(request: Request[Any, Any, Any]) -> Response[Any]:
        body, refused = await guarded(request)
        if refused is not None:
            return refused
        assert body is not None
        wanted = body.get("structure")
        siret = wanted.get("identifiantStructure") if isinstance(wanted, dict) else None
        with standin.lock:
            rows = [
                {
                    "idStructureCPP": sid,
                    "identifiantStructure": s,
                    "typeIdentifiantStructure": "SIRET",
                    "designationStructure": f"Structure {s}",
                }
                for s, sid in standin.structures.items()
                if siret is None or s == siret
            ]
        return _answer(
            standin,
            request.url.path,
            Response(
                {**SUCCESS, "listeStructures": rows, "parametresRetour": {"total": len(rows)}}
            ),
        )

    @post("/cpro/factures/v1/rechercher/recipiendaire", status_code=200)
    async def search(request: Request[Any, Any, Any]) -> Response[Any]:
        body, refused = await guarded(request)
        if refused is not None:
            return refused
        assert body is not None
        path = request.url.path
        structure = _int(body.get("idDestinataire"))
        since_raw = body.get("periodeDateDepotDu")
        params = body.get("paramRecherche") if isinstance(body.get("paramRecherche"), dict) else {}
        assert isinstance(params, dict)
        page = _int(params.get("pageResultatDemandee")) or 1
        size = min(_int(params.get("nbResultatsParPage")) or 10, 500)
        try:
            since = date.fromisoformat(since_raw) if isinstance(since_raw, str) else None
        except ValueError:
            return _answer(standin, path, _error(400, 20002, "periodeDateDepotDu invalide."))
        with standin.lock:
            sirets = {s for s, sid in standin.structures.items() if sid == structure}
            if structure is None or not sirets:
                return _answer(
                    standin, path, _error(400, 20003, "idDestinataire inconnu ou non rattaché.")
                )
            found = sorted(
                (
                    i
                    for i in standin.invoices.values()
                    if i.recipient_siret in sirets
                    and (since is None or i.deposited_at.date() >= since)
                ),
                key=lambda i: (i.deposited_at, i.id),
            )
            rows = [
                {
                    "idFacture": i.id,
                    "numeroFacture": i.number,
                    "codeDestinataire": i.recipient_siret,
                    "idDestinataire": structure,
                    "codeFournisseur": i.supplier_code,
                    "typeIdentifiantFournisseur": "SIRET",
                    "designationFournisseur": i.supplier_name,
                    "dateDepot": i.deposited_at.date().isoformat(),
                    "statut": i.status,
                    "typeFacture": "FACTURE",
                    "typeDemandePaiement": "FACTURE",
                    "factureTelechargeeParDestinataire": i.downloaded,
                    "devise": "EUR",
                }
                for i in found
            ]
        pages = max(1, (len(rows) + size - 1) // size)
        chunk = rows[(page - 1) * size : page * size]
        return _answer(
            standin,
            path,
            Response(
                {
                    **SUCCESS,
                    "pageCourante": page,
                    "pages": pages,
                    "nbResultatsParPage": size,
                    "total": len(rows),
                    "listeFactures": chunk,
                }
            ),
        )

    def _invoice(body: dict[str, Any], key: str) -> StandinInvoice | None:
        ident = _int(body.get(key))
        with standin.lock:
            return standin.invoices.get(ident) if ident is not None else None

    @post("/cpro/factures/v1/consulter/recipiendaire", status_code=200)
    async def consult(request: Request[Any, Any, Any]) -> Response[Any]:
        body, refused = await guarded(request)
        if refused is not None:
            return refused
        assert body is not None
        invoice = _invoice(body, "identifiantFactureCPP")
        if invoice is None:
            return _answer(standin, request.url.path, _error(404, 20004, "Facture inconnue."))
        return _answer(
            standin,
            request.url.path,
            Response(
                {
                    **SUCCESS,
                    "facture": {
                        "idFacture": invoice.id,
                        "numeroFacture": invoice.number,
                        "statut": invoice.status,
                        "destinataire": {"codeDestinataire": invoice.recipient_siret},
                        "fournisseur": {"codeFournisseur": invoice.supplier_code},
                    },
                }
            ),
        )

    @post("/cpro/factures/v1/consulter/historique", status_code=200)
    async def history(request: Request[Any, Any, Any]) -> Response[Any]:
        body, refused = await guarded(request)
        if refused is not None:
            return refused
        assert body is not None
        invoice = _invoice(body, "idFacture")
        if invoice is None:
            return _answer(standin, request.url.path, _error(404, 20004, "Facture inconnue."))
        with standin.lock:
            rows = [
                {
                    "statutCode": e.status,
                    "statutDateHeure": e.at.isoformat(),
                    "statutCommentaire": e.motif,
                }
                for e in invoice.history
            ]
        return _answer(
            standin,
            request.url.path,
            Response(
                {
                    **SUCCESS,
                    "idFacture": invoice.id,
                    "statutCourantCode": invoice.status,
                    "historiquesDesStatuts": {"histoStatut": rows},
                }
            ),
        )

    @post("/cpro/factures/v1/telecharger/groupe", status_code=200)
    async def download(request: Request[Any, Any, Any]) -> Response[Any]:
        body, refused = await guarded(request)
        if refused is not None:
            return refused
        assert body is not None
        path = request.url.path
        wanted = body.get("listeFacture")
        if not isinstance(wanted, list) or not wanted:
            return _answer(standin, path, _error(400, 20005, "listeFacture vide."))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in wanted:
                invoice = _invoice(item, "idFacture") if isinstance(item, dict) else None
                if invoice is None:
                    return _answer(standin, path, _error(404, 20004, "Facture inconnue."))
                archive.writestr(f"{invoice.id}_{invoice.file_name}", invoice.content)
                with standin.lock:
                    invoice.downloaded = True
        return _answer(
            standin,
            path,
            Response(
                {**SUCCESS, "fichierResultat": base64.b64encode(buffer.getvalue()).decode("ascii")}
            ),
        )

    @post("/cpro/factures/v1/traiter/factureRecue", status_code=200)
    async def process(request: Request[Any, Any, Any]) -> Response[Any]:
        body, refused = await guarded(request)
        if refused is not None:
            return refused
        assert body is not None
        path = request.url.path
        invoice = _invoice(body, "idFacture")
        if invoice is None:
            return _answer(standin, path, _error(404, 20004, "Facture inconnue."))
        status = body.get("nouveauStatut")
        motif = body.get("motif")
        if not isinstance(status, str):
            return _answer(standin, path, _error(400, 20006, "nouveauStatut manquant."))
        if status in NEEDS_MOTIF and not (isinstance(motif, str) and motif.strip()):
            return _answer(
                standin, path, _error(400, 20007, f"Le motif est obligatoire pour {status}.")
            )
        with standin.lock:
            allowed = RECIPIENT_MOVES.get(invoice.status, frozenset())
            if status not in allowed:
                return _answer(
                    standin,
                    path,
                    _error(
                        400,
                        20008,
                        f"Changement de statut impossible de {invoice.status} vers {status}.",
                    ),
                )
            now = datetime.now(UTC)
            invoice.status = status
            invoice.history.append(
                StatusEntry(status, now, motif if isinstance(motif, str) else None, "destinataire")
            )
            mandate = body.get("NumeroDPMandat")
            if isinstance(mandate, str) and mandate:
                invoice.mandate_number = mandate
            standin.pushes.append(
                {
                    "idFacture": invoice.id,
                    "nouveauStatut": status,
                    "motif": motif,
                    "NumeroDPMandat": mandate,
                }
            )
        return _answer(
            standin,
            path,
            Response(
                {
                    "codeRetour": 0,
                    "libelle": "TRA_MSG_00.000",
                    "dateTraitement": now.date().isoformat(),
                    "idFacture": invoice.id,
                    "nouveauStatut": status,
                    "numeroFacture": invoice.number,
                }
            ),
        )

    # ----- the supplier's side (trials) --------------------------------------------------------

    @post("/_standin/deposer", status_code=201)
    async def deposit(request: Request[Any, Any, Any]) -> Response[Any]:
        body = await _body(request)
        if body is None:
            return _error(400, 20001, "Requête invalide : un objet JSON est attendu.")
        siret, number, content = (
            body.get("codeDestinataire"),
            body.get("numeroFacture"),
            body.get("fichier"),
        )
        if not (isinstance(siret, str) and siret.isdigit() and len(siret) == 14):
            return _error(400, 20009, "codeDestinataire : un SIRET de 14 chiffres est attendu.")
        if not (isinstance(number, str) and 0 < len(number) <= 200):
            return _error(400, 20010, "numeroFacture manquant.")
        try:
            raw = base64.b64decode(content if isinstance(content, str) else "", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            return _error(400, 20011, "fichier : le contenu en base64 est attendu.")
        name = body.get("nomFichier")
        ident = standin.deposit(
            siret, raw, number=number, file_name=name if isinstance(name, str) else "facture.xml"
        )
        return Response({**SUCCESS, "idFacture": ident}, status_code=201)

    @get("/_standin/factures/{invoice_id:int}")
    async def supplier_view(invoice_id: FromPath[int]) -> Response[Any]:
        with standin.lock:
            invoice = standin.invoices.get(invoice_id)
            view = invoice.supplier_view() if invoice else None
        if view is None:
            return _error(404, 20004, "Facture inconnue.")
        return Response({**SUCCESS, **view})

    @post("/_standin/factures/{invoice_id:int}/completer", status_code=200)
    async def complete(invoice_id: FromPath[int]) -> Response[Any]:
        try:
            standin.complete(invoice_id)
        except (KeyError, ValueError) as exc:
            return _error(400, 20012, f"Complément impossible : {exc}")
        return Response(SUCCESS)

    return Litestar(
        route_handlers=[
            token,
            structures,
            search,
            consult,
            history,
            download,
            process,
            deposit,
            supplier_view,
            complete,
        ],
        openapi_config=None,
        debug=False,
    )


# ----- running it ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(standin: ChorusStandin, port: int | None = None) -> Iterator[str]:
    """Run the stand-in on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(
        create_app(standin), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="chorus-standin", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("le simulateur Chorus Pro n'a pas démarré")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m channels.einvoice.chorus.standin",
        description="Simulateur local de l'API Chorus Pro (PISTE) pour essais.",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--client-id", default="standin-client")
    parser.add_argument("--client-secret", default="standin-secret")
    parser.add_argument("--login", default="standin-login")
    parser.add_argument("--password", default="standin-password")
    parser.add_argument(
        "--structure", action="append", default=[], help="SIRET d'une structure destinataire"
    )
    args = parser.parse_args(argv)
    standin = ChorusStandin(
        client_id=args.client_id,
        client_secret=args.client_secret,
        login=args.login,
        password=args.password,
    )
    for siret in args.structure:
        standin.structure(siret)
    import uvicorn

    print(
        f"Simulateur Chorus Pro sur http://{args.host}:{args.port} — "
        f"GUICHET_CHORUS_TOKEN_URL=http://{args.host}:{args.port}/api/oauth/token "
        f"GUICHET_CHORUS_API_BASE_URL=http://{args.host}:{args.port}"
    )
    uvicorn.run(create_app(standin), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
