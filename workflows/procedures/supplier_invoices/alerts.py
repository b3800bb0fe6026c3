"""Alerts before the end of the délai global de paiement (see ``jobs.dgp_alerts``).

Each new alert is recorded on the case (``invoice.dgp_alert``) and mailed, in the same
transaction (outbox ``mail.send``: sent once committed, never lost), to the ordering department
(the e-mail of the ``invoice_department`` of its code service, BT-10) and to the finance
department: the address set for the commune in ``GUICHET_SUPPLIER_INVOICES_ALERT_FINANCE_EMAILS``
(``{"69001": "finances@…"}``), else the e-mail of the commune's service
``GUICHET_SUPPLIER_INVOICES_SERVICE_CODE`` (``finances``, the one on the rejection notice). The
mail is plain French, without link: invoice number, supplier, amount, days left and the end date
of the délai global de paiement. Workflows may not import ``documents``: the message is built
here with the standard library, in the format ``documents.raw_mail`` sends.
"""

from __future__ import annotations

import base64
import hashlib
import html
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from services.kernel.actor import SYSTEM_ACTOR
from services.kernel.clock import Clock
from services.kernel.settings import smtp_settings
from workflows.cases.models import Case, CaseEvent, Outbox
from workflows.cases.service import CaseService
from workflows.engine.runner import Engine
from workflows.procedures.supplier_invoices.models import InvoiceDepartment, SupplierInvoice
from workflows.procedures.supplier_invoices.settings import get_supplier_invoice_settings
from workflows.procedures.supplier_invoices.views import RUNNING

ALERT_EVENT = "invoice.dgp_alert"
EXPIRED = -1
"""Threshold recorded once the period has ended unpaid."""


def threshold(days_left: int, alert_days: tuple[int, ...]) -> int | None:
    """The alert due for an invoice with ``days_left``: the smallest configured threshold it has
    reached, ``EXPIRED`` past the end, None before the first threshold."""
    if days_left < 0:
        return EXPIRED
    reached = [d for d in alert_days if days_left <= d]
    return min(reached) if reached else None


async def record_dgp_alerts(
    session: AsyncSession, engine: Engine, clock: Clock, *, today: date
) -> list[uuid.UUID]:
    settings = get_supplier_invoice_settings()
    horizon = today + timedelta(days=max(settings.alert_days, default=0))
    rows = list(
        await session.scalars(
            select(SupplierInvoice).where(
                SupplierInvoice.state.in_(RUNNING),
                SupplierInvoice.dgp_due.is_not(None),
                SupplierInvoice.dgp_due <= horizon,
            )
        )
    )
    service = CaseService(session, engine, clock)
    recorded: list[uuid.UUID] = []
    for row in rows:
        assert row.dgp_due is not None
        days_left = (row.dgp_due - today).days
        level = threshold(days_left, settings.alert_days)
        if level is None:
            continue
        due = row.dgp_due.isoformat()
        previous = await session.scalars(
            select(CaseEvent.data).where(
                CaseEvent.case_id == row.case_id, CaseEvent.kind == ALERT_EVENT
            )
        )
        if any(d.get("level") == level and d.get("due") == due for d in previous):
            continue
        message = (
            f"Délai global de paiement dépassé depuis le {row.dgp_due.strftime('%d/%m/%Y')} : "
            "les intérêts moratoires et l'indemnité forfaitaire de 40 € sont dus "
            "(R2192-31 et D2192-35 du code de la commande publique)."
            if level == EXPIRED
            else f"Le délai global de paiement finit le {row.dgp_due.strftime('%d/%m/%Y')} "
            f"(dans {days_left} jour(s))."
        )
        await service.record(
            row.case_id,
            ALERT_EVENT,
            SYSTEM_ACTOR,
            {"level": level, "due": due, "days_left": days_left, "message": message},
            public=False,
        )
        await queue_alert_mails(session, row, level, days_left, now=clock.now())
        recorded.append(row.case_id)
    return recorded


# ----- the alert mail ------------------------------------------------------------------------

MAIL_KIND = "mail.send"
"""The outbox kind of ``documents.raw_mail`` (payload: the RFC 5322 bytes, base64)."""
_tenant = table("tenant", column("id"), column("name"), column("insee_code"), column("mail_from"))
_tenant_service = table("tenant_service", column("tenant_id"), column("code"), column("email"))


class AlertMailSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GUICHET_SUPPLIER_INVOICES_", extra="ignore", env_file=None
    )

    alert_finance_emails: dict[str, str] = Field(
        default_factory=dict,
        description="Address of the finance department per commune (INSEE code → e-mail, e.g. "
        '{"69001": "finances@mairie.example"}) for the DGP alerts. A commune not listed: the '
        "e-mail of its service GUICHET_SUPPLIER_INVOICES_SERVICE_CODE.",
    )


@dataclass(frozen=True, slots=True)
class AlertMail:
    subject: str
    text: str


def _amount(value: Decimal | None, currency: str) -> str:
    if value is None:
        return "non indiqué"
    text = f"{value:,.2f}".replace(",", "\u00a0").replace(".", ",")
    return f"{text}\u00a0{'€' if currency == 'EUR' else currency}"


def dgp_alert_mail(
    *,
    number: str,
    supplier: str,
    amount: str,
    days_left: int,
    due: date,
    reference: str,
    department: str,
    tenant: str,
) -> AlertMail:
    """The French alert mail (no link): what the invoice is and how long is left to pay it."""
    end = due.strftime("%d/%m/%Y")
    if days_left < 0:
        subject = f"Délai de paiement dépassé : facture n° {number} de {supplier}"
        opening = (
            f"Le délai global de paiement de cette facture fournisseur a pris fin le {end} et "
            f"elle n'est pas payée ({-days_left} jour(s) de retard)."
        )
        days = f"Jours restants : aucun ({-days_left} jour(s) de retard)"
        action = (
            "Les intérêts moratoires et l'indemnité forfaitaire de 40 € sont dus au fournisseur "
            "(R2192-31 et D2192-35 du code de la commande publique) : payez la facture sans "
            "attendre, le service des finances mandate les intérêts avec elle."
        )
    else:
        subject = (
            f"Délai de paiement : facture n° {number} de {supplier}, {days_left} jour(s) restant(s)"
        )
        opening = (
            f"Le délai global de paiement de cette facture fournisseur finit le {end}, dans "
            f"{days_left} jour(s)."
        )
        days = f"Jours restants : {days_left}"
        action = (
            "Service destinataire : certifiez le service fait sans attendre. Service des "
            "finances : mandatez la facture dès le service fait certifié. Passé cette date, les "
            "intérêts moratoires et l'indemnité forfaitaire de 40 € sont dus (R2192-31 et "
            "D2192-35 du code de la commande publique)."
        )
    text = "\n".join(
        [
            "Bonjour,",
            "",
            opening,
            "",
            f"Facture n° : {number}",
            f"Fournisseur : {supplier}",
            f"Montant TTC : {amount}",
            days,
            f"Fin du délai global de paiement : {end}",
            f"Service destinataire : {department}",
            f"Dossier : {reference}",
            "",
            action,
            "",
            f"Message automatique de Guichet pour {tenant}.",
            "",
        ]
    )
    return AlertMail(subject=" ".join(subject.split())[:250], text=text)


def _sender(name: str, mail_from: str | None) -> str:
    default = smtp_settings().smtp_from
    if mail_from and mail_from.strip():
        display, addr = parseaddr(mail_from)
        if addr and "@" in addr:
            try:
                return str(Address(display_name=display or name, addr_spec=addr))
            except (ValueError, IndexError):
                pass
    return default


def _domain(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().lower()
    ok = domain and all(c.isalnum() or c in ".-" for c in domain) and domain.isascii()
    return domain if ok else "guichet.invalid"


async def _recipients(session: AsyncSession, row: SupplierInvoice, insee: str) -> list[str]:
    found: list[str] = []
    if row.department_code:
        email = await session.scalar(
            select(InvoiceDepartment.email).where(
                InvoiceDepartment.tenant_id == row.tenant_id,
                InvoiceDepartment.code == row.department_code,
            )
        )
        if email:
            found.append(email)
    finance = AlertMailSettings().alert_finance_emails.get(insee)
    if not finance:
        finance = await session.scalar(
            select(_tenant_service.c.email).where(
                _tenant_service.c.tenant_id == row.tenant_id,
                _tenant_service.c.code == get_supplier_invoice_settings().service_code,
            )
        )
    if finance:
        found.append(str(finance))
    unique: dict[str, str] = {}
    for address in found:
        unique.setdefault(address.strip().lower(), address.strip())
    return [a for a in unique.values() if a]


async def queue_alert_mails(
    session: AsyncSession, row: SupplierInvoice, level: int, days_left: int, *, now: datetime
) -> list[Outbox]:
    """Queue the alert mail to the ordering department and to finance (once each per alert)."""
    assert row.dgp_due is not None
    tenant = (
        await session.execute(
            select(_tenant.c.name, _tenant.c.insee_code, _tenant.c.mail_from).where(
                _tenant.c.id == row.tenant_id
            )
        )
    ).first()
    if tenant is None:  # pragma: no cover - the invoice belongs to a tenant
        return []
    tenant_name, insee, mail_from = str(tenant[0]), str(tenant[1]), tenant[2]
    recipients = await _recipients(session, row, insee)
    if not recipients:
        return []
    reference = await session.scalar(select(Case.reference).where(Case.id == row.case_id)) or ""
    department_name = None
    if row.department_code:
        department_name = await session.scalar(
            select(InvoiceDepartment.name).where(
                InvoiceDepartment.tenant_id == row.tenant_id,
                InvoiceDepartment.code == row.department_code,
            )
        )
    supplier = row.seller_name or "fournisseur non nommé"
    if row.seller_siret:
        supplier = f"{supplier} (SIRET {row.seller_siret})"
    content = dgp_alert_mail(
        number=row.number,
        supplier=supplier,
        amount=_amount(row.total_with_vat, row.currency),
        days_left=days_left,
        due=row.dgp_due,
        reference=reference,
        department=" — ".join(x for x in (row.department_code, department_name) if x)
        or "non indiqué",
        tenant=tenant_name,
    )
    sender = _sender(tenant_name, mail_from)
    domain = _domain(sender)
    tag = "expire" if level == EXPIRED else f"j{level}"
    rows: list[Outbox] = []
    for address in recipients:
        digest = hashlib.sha256(address.lower().encode()).hexdigest()[:16]
        message = EmailMessage()
        try:
            message["To"] = Address(addr_spec=address)
        except (ValueError, IndexError):
            continue  # a malformed address in the data: the alert stays on the case
        message["From"] = sender
        message["Subject"] = content.subject
        message["Date"] = format_datetime(now)
        message["Message-ID"] = (
            f"<dgp-alert-{row.case_id}-{tag}-{row.dgp_due.isoformat()}-{digest}@{domain}>"
        )
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(content.text)
        body = html.escape(content.text).replace("\n\n", "</p><p>").replace("\n", "<br>")
        message.add_alternative(f"<p>{body}</p>", subtype="html")
        message["Content-Language"] = "fr"
        outbox = Outbox(
            case_id=row.case_id,
            kind=MAIL_KIND,
            payload={"message": base64.b64encode(message.as_bytes(policy=policy.SMTP)).decode()},
            dedupe_key=f"dgp-alert:{row.case_id}:{tag}:{row.dgp_due.isoformat()}:{digest}",
            status="pending",
            attempts=0,
            created_at=now,
        )
        session.add(outbox)
        rows.append(outbox)
    return rows
