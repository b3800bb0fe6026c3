"""Turn the bytes of a received e-mail into what the mail channel needs (pure: no I/O).

Never trusts the mail: charsets may be wrong (undecodable bytes become U+FFFD, never an
exception), MIME may be broken (best effort: what can be read is read), attachment names may try
to escape a directory (only a sanitised base name is kept). What cannot be accepted at all — too
big, too many attachments, no headers — raises ``MailRejected`` with a French reason.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_ATTACHMENTS = 50
MAX_FILENAME = 255


class MailRejected(ValueError):
    """The mail cannot be accepted; ``reason`` says why (French, for the sender and the logs)."""

    def __init__(self, reason: str, *, code: str = "rejected") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        """too_big | too_many_attachments | malformed"""


@dataclass(frozen=True, slots=True)
class MailAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]
    sender: str
    """The From address, lower-cased ("" when absent or unreadable)."""
    sender_name: str
    recipients: tuple[str, ...]
    """To, Cc, Delivered-To and X-Original-To addresses, lower-cased, without duplicates."""
    subject: str
    text: str
    attachments: tuple[MailAttachment, ...] = field(default_factory=tuple)
    auto_submitted: bool = False
    auto_reason: str | None = None
    size: int = 0


# ----- headers -----------------------------------------------------------------------------------


def _header(msg: Message, name: str) -> str:
    """A header decoded (RFC 2047), unfolded; "" when absent or unreadable."""
    value = msg.get(name)
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError, AssertionError):
        text = str(value)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return " ".join(text.split())


_MSGID = re.compile(r"<[^<>\s]{1,250}>")


def _msgids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MSGID.findall(value)))


def _address(value: str) -> tuple[str, str]:
    name, addr = parseaddr(value)
    addr = addr.strip().lower()
    if "@" not in addr or any(c.isspace() for c in addr) or len(addr) > 254:
        addr = ""
    return " ".join(name.split())[:200], addr


def _addresses(msg: Message, *names: str) -> tuple[str, ...]:
    values = [_header(msg, n) for n in names]
    found: list[str] = []
    for _, addr in getaddresses([v for v in values if v]):
        addr = addr.strip().lower()
        if "@" in addr and addr not in found and len(addr) <= 254:
            found.append(addr)
    return tuple(found)


# ----- bodies ------------------------------------------------------------------------------------


def _codec(charset: str | None) -> str:
    name = (charset or "utf-8").strip().strip('"').lower()
    if name in ("latin-1", "latin1", "iso-8859-1", "iso8859-1", "us-ascii", "ascii"):
        # Mail clients label windows-1252 text as latin-1 (and 8-bit text as ASCII): cp1252 is
        # a superset that reads both; utf-8 is tried first for undeclared 8-bit text.
        return "cp1252" if name not in ("us-ascii", "ascii") else "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def _decode_text(data: bytes, charset: str | None) -> str:
    codec = _codec(charset)
    if codec == "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            if charset and charset.lower() in ("us-ascii", "ascii"):
                return data.decode("cp1252", "replace")
            return data.decode("utf-8", "replace")
    try:
        return data.decode(codec, "replace")
    except (LookupError, UnicodeError, TypeError):
        return data.decode("utf-8", "replace")


def _part_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


class _HtmlText(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
        | {"table", "ul", "ol", "section", "article", "header", "footer", "hr"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body: scripts and styles dropped, blocks on their own lines."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is lenient
        pass
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text.strip()


# ----- attachments -------------------------------------------------------------------------------


def sanitise_filename(name: str | None, index: int) -> str:
    """A base name only: no directories, no control characters, no leading dots."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.strip().lstrip(".").strip()
    if not name or name in (".", ".."):
        name = f"piece-jointe-{index}"
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:20] if dot and stem else ""
        name = name[: MAX_FILENAME - len(ext) - 1] + ("." + ext if ext else "")
    return name


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except (ValueError, LookupError, UnicodeError, TypeError):
        name = None
    if name and "=?" in name:
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            name = str(make_header(decode_header(name)))
    return name


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except (ValueError, TypeError, AttributeError):
        return "application/octet-stream"
    return (
        ctype if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", ctype) else "application/octet-stream"
    )


def _disposition(part: Message) -> str:
    return str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()


@dataclass
class _Walk:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[MailAttachment] = field(default_factory=list)
    leaves: int = 0


def _walk(part: Message, found: _Walk, max_attachments: int, depth: int = 0) -> None:
    if depth > 20:
        raise MailRejected("le message est imbriqué trop profondément", code="malformed")
    ctype = _content_type(part)
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    _walk(sub, found, max_attachments, depth + 1)
        return
    found.leaves += 1
    name = _filename(part)
    disposition = _disposition(part)
    is_body = ctype in ("text/plain", "text/html") and disposition != "attachment" and not name
    if is_body or (ctype.startswith("multipart/") and not name):
        text = _decode_text(_part_bytes(part), part.get_content_charset())
        if ctype == "text/html":
            found.html.append(text)
        else:
            found.plain.append(text)
        return
    if len(found.attachments) >= max_attachments:
        raise MailRejected(
            f"le message contient plus de {max_attachments} pièces jointes",
            code="too_many_attachments",
        )
    if ctype == "message/rfc822":
        data = part.as_bytes() if not name else _part_bytes(part)
        default = "message-joint.eml"
    else:
        data = _part_bytes(part)
        default = None
    index = len(found.attachments) + 1
    filename = sanitise_filename(name or default, index)
    found.attachments.append(MailAttachment(filename=filename, content_type=ctype, data=data))


# ----- automatic mail ----------------------------------------------------------------------------


def _auto_reason(msg: Message, sender: str, message_id: str, own_domains: frozenset[str]) -> str:
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"réponse automatique (Auto-Submitted: {auto})"
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "list"):
        return f"envoi en nombre (Precedence: {precedence})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if msg.get(name) is not None:
            return f"réponse automatique ({name})"
    if _content_type(msg) == "multipart/report":
        return "avis de non-remise (multipart/report)"
    local = sender.partition("@")[0]
    if local in ("mailer-daemon", "postmaster"):
        return f"avis de non-remise ({sender})"
    domain = message_id.strip("<>").rpartition("@")[2].lower()
    if domain and domain in own_domains:
        return "boucle : le message vient de Guichet lui-même"
    return ""


# ----- entry point -------------------------------------------------------------------------------


def synthetic_message_id(raw: bytes) -> str:
    """For a mail without Message-ID: the same bytes give the same id (redelivery stays a
    duplicate)."""
    return f"<sans-id-{hashlib.sha256(raw).hexdigest()[:40]}@guichet.invalid>"


def parse(
    raw: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
    own_domains: frozenset[str] = frozenset(),
) -> ParsedMail:
    """Parse one received mail. Raises ``MailRejected`` when it cannot be accepted."""
    size = len(raw)
    if size > max_bytes:
        raise MailRejected(
            f"le message fait {size} octets, plus que la taille admise ({max_bytes} octets)",
            code="too_big",
        )
    head = raw[:65536].lstrip(b"\r\n")
    if not raw.strip() or not re.match(rb"^[!-9;-~]+:", head):
        raise MailRejected("le message n'a pas d'en-têtes lisibles", code="malformed")
    msg = message_from_bytes(raw, policy=compat32)
    found = _Walk()
    _walk(msg, found, max_attachments)
    ids = _msgids(_header(msg, "Message-ID"))
    message_id = ids[0] if ids else synthetic_message_id(raw)
    in_reply = _msgids(_header(msg, "In-Reply-To"))
    sender_name, sender = _address(_header(msg, "From"))
    if found.plain:
        text = "\n\n".join(_clean_text(t) for t in found.plain if t.strip())
    else:
        text = "\n\n".join(html_to_text(h) for h in found.html if h.strip())
    return ParsedMail(
        message_id=message_id,
        in_reply_to=in_reply[0] if in_reply else None,
        references=_msgids(_header(msg, "References")),
        sender=sender,
        sender_name=sender_name,
        recipients=_addresses(msg, "To", "Cc", "Delivered-To", "X-Original-To"),
        subject=_header(msg, "Subject")[:300],
        text=_clean_text(text),
        attachments=tuple(found.attachments),
        auto_submitted=bool(reason := _auto_reason(msg, sender, message_id, own_domains)),
        auto_reason=reason or None,
        size=size,
    )
