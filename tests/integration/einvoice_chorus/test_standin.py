"""The stand-in answers like Chorus Pro, errors included (``codeRetour`` / ``libelle``), and never
with a 500 on bad input; the adapter refuses what it cannot trust."""

from __future__ import annotations

import base64

import httpx
import pytest

from channels.einvoice.chorus.http import ChorusProHttp, _unzip
from channels.einvoice.chorus.port import ChorusProtocolError, ChorusRefused
from channels.einvoice.chorus.settings import ChorusSettings
from channels.einvoice.chorus.standin import ChorusStandin
from tests.integration.einvoice_chorus import samples
from tests.support import supplier_invoices as si

pytestmark = pytest.mark.integration


async def token_of(client: httpx.AsyncClient, standin: ChorusStandin) -> dict[str, str]:
    r = await client.post(
        "/api/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": standin.client_id,
            "client_secret": standin.client_secret,
        },
    )
    assert r.status_code == 200
    account = base64.b64encode(f"{standin.login}:{standin.password}".encode()).decode()
    return {"Authorization": f"Bearer {r.json()['access_token']}", "cpro-account": account}


async def test_every_api_call_requires_the_token_and_the_technical_account(
    standin: ChorusStandin, chorus_url: str
) -> None:
    async with httpx.AsyncClient(base_url=chorus_url) as client:
        path = "/cpro/factures/v1/rechercher/recipiendaire"
        r = await client.post(path, json={})
        assert r.status_code == 401 and r.json()["codeRetour"] == 401
        headers = await token_of(client, standin)
        r = await client.post(path, json={}, headers={**headers, "cpro-account": "!!"})
        assert r.status_code == 401 and "cpro-account" in r.json()["libelle"]
        r = await client.post(path, json={}, headers={"Authorization": "Bearer forged"})
        assert r.status_code == 401
        r = await client.post("/api/oauth/token", data={"grant_type": "password", "client_id": "x"})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/cpro/factures/v1/rechercher/recipiendaire", b"{not json"),
        ("/cpro/factures/v1/rechercher/recipiendaire", b"[1, 2]"),
        ("/cpro/factures/v1/rechercher/recipiendaire", b'{"idDestinataire": "abc"}'),
        (
            "/cpro/factures/v1/rechercher/recipiendaire",
            b'{"idDestinataire": 25000001, "periodeDateDepotDu": "hier"}',
        ),
        ("/cpro/factures/v1/telecharger/groupe", b'{"listeFacture": "tout"}'),
        ("/cpro/factures/v1/telecharger/groupe", b'{"listeFacture": [{"idFacture": 999999}]}'),
        (
            "/cpro/factures/v1/traiter/factureRecue",
            b'{"idFacture": 999999, "nouveauStatut": "REJETEE"}',
        ),
        ("/cpro/factures/v1/consulter/historique", '{"idFacture": "\u00e9t\u00e9"}'.encode()),
    ],
)
async def test_bad_requests_are_answered_as_chorus_pro_errors_never_500(
    standin: ChorusStandin, chorus_url: str, path: str, body: bytes
) -> None:
    async with httpx.AsyncClient(base_url=chorus_url) as client:
        headers = await token_of(client, standin)
        r = await client.post(
            path, content=body, headers={**headers, "Content-Type": "application/json"}
        )
    assert 400 <= r.status_code < 500, r.text
    answer = r.json()
    assert answer["codeRetour"] != 0 and answer["libelle"]


async def test_process_requires_a_motif_to_reject_or_suspend_and_checks_the_transition(
    standin: ChorusStandin, chorus_url: str
) -> None:
    invoice = standin.deposit(si.SIRET_A, samples.cii_invoice(), number="CII-2026-1")
    async with ChorusProHttp(ChorusSettings()) as port:
        with pytest.raises(ChorusRefused, match="motif est obligatoire"):
            await port.push_status(str(invoice), "SUSPENDUE")
        with pytest.raises(ChorusRefused, match="impossible de MISE_A_DISPOSITION vers"):
            await port.push_status(str(invoice), "MISE_EN_PAIEMENT")
        done = await port.push_status(str(invoice), "REJETEE", reason="Facture en double")
        assert done.status == "REJETEE" and done.processed_on is not None
        assert await port.current_status(str(invoice)) == "REJETEE"
    assert standin.invoices[invoice].history[-1].motif == "Facture en double"


async def test_supplier_side_deposit_and_view(standin: ChorusStandin, chorus_url: str) -> None:
    async with httpx.AsyncClient(base_url=chorus_url) as client:
        bad = await client.post("/_standin/deposer", json={"codeDestinataire": "123"})
        assert bad.status_code == 400 and "SIRET" in bad.json()["libelle"]
        bad = await client.post(
            "/_standin/deposer",
            json={"codeDestinataire": si.SIRET_A, "numeroFacture": "F1", "fichier": "%%%"},
        )
        assert bad.status_code == 400
        r = await client.post(
            "/_standin/deposer",
            json={
                "codeDestinataire": si.SIRET_A,
                "numeroFacture": "F-ÉTÉ-1",
                "nomFichier": "facture.xml",
                "fichier": base64.b64encode(samples.cii_invoice()).decode(),
            },
        )
        assert r.status_code == 201
        ident = r.json()["idFacture"]
        view = (await client.get(f"/_standin/factures/{ident}")).json()
        assert view["statut"] == "MISE_A_DISPOSITION" and view["numeroFacture"] == "F-ÉTÉ-1"
        assert (await client.get("/_standin/factures/1")).status_code == 404
        r = await client.post(f"/_standin/factures/{ident}/completer")
        assert r.status_code == 400  # not suspended
    async with ChorusProHttp(ChorusSettings()) as port:
        assert await port.download(str(ident)) == samples.cii_invoice()


async def test_search_pages_through_every_invoice(standin: ChorusStandin, chorus_url: str) -> None:
    for n in range(7):
        standin.deposit(si.SIRET_A, b"<x/>", number=f"F-{n}")
    settings = ChorusSettings(page_size=3)
    async with ChorusProHttp(settings) as port:
        structure = await port.structure_id(si.SIRET_A)
        pages = [await port.search_received(structure, since=None, page=p) for p in (1, 2, 3)]
        with pytest.raises(ChorusRefused, match="Aucune structure"):
            await port.structure_id("11111111111111")
    assert [p.pages for p in pages] == [3, 3, 3]
    assert [len(p.invoices) for p in pages] == [3, 3, 1]
    assert sorted(i.number for p in pages for i in p.invoices) == [f"F-{n}" for n in range(7)]


def test_a_zip_bigger_than_the_limit_or_broken_is_refused() -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.xml", b"0" * 200_000)
    with pytest.raises(ChorusProtocolError, match="dépasse"):
        _unzip(buffer.getvalue(), 100_000)
    with pytest.raises(ChorusProtocolError, match="illisible"):
        _unzip(b"PK\x03\x04garbage", 100_000)
    assert _unzip(buffer.getvalue(), 300_000) == b"0" * 200_000


async def test_token_is_cached_until_it_expires(standin: ChorusStandin, chorus_url: str) -> None:
    async with ChorusProHttp(ChorusSettings()) as port:
        await port.structure_id(si.SIRET_A)
        await port.structure_id(si.SIRET_A)
        standin.invalidate_tokens()  # revoked or expired on the server: one fresh token
        await port.structure_id(si.SIRET_A)
    tokens = [code for path, code in standin.calls if path == "/api/oauth/token"]
    assert tokens == [200, 200]
