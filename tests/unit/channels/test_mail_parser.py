"""The mail parser: bytes from anywhere become a ParsedMail, or MailRejected with a reason."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from channels.mail.parser import MailRejected, parse, sanitise_filename

pytestmark = pytest.mark.unit


def raw_mail(body: bytes, *, headers: str = "", content_type: str = "") -> bytes:
    head = (
        "From: Jeanne Dupont <Jeanne.Dupont@example.org>\r\n"
        "To: voirie@ville.example\r\n"
        "Subject: Nid de poule\r\n"
        "Message-ID: <abc123@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        f"{content_type or 'Content-Type: text/plain; charset=utf-8'}\r\n"
        f"{headers}"
        "\r\n"
    )
    return head.encode() + body


def test_plain_utf8_mail_gives_addresses_ids_and_text() -> None:
    mail = parse(
        raw_mail(
            "Il y a un trou devant l'école.\r\n".encode(),
            headers="In-Reply-To: <notif-1@guichet.example>\r\n"
            "References: <case-1@guichet.example> <notif-1@guichet.example>\r\n",
        )
    )
    assert mail.message_id == "<abc123@example.org>"
    assert mail.sender == "jeanne.dupont@example.org"
    assert mail.sender_name == "Jeanne Dupont"
    assert mail.recipients == ("voirie@ville.example",)
    assert mail.subject == "Nid de poule"
    assert mail.text == "Il y a un trou devant l'école."
    assert mail.in_reply_to == "<notif-1@guichet.example>"
    assert mail.references == ("<case-1@guichet.example>", "<notif-1@guichet.example>")
    assert not mail.auto_submitted
    assert mail.attachments == ()


@pytest.mark.parametrize("charset", ["iso-8859-1", "latin-1", "windows-1252"])
def test_latin1_and_windows_1252_bodies_are_decoded(charset: str) -> None:
    body = "Côté école, « trottoir » abîmé – merci €".encode("cp1252")
    mail = parse(raw_mail(body, content_type=f"Content-Type: text/plain; charset={charset}"))
    assert mail.text == "Côté école, « trottoir » abîmé – merci €"


def test_unknown_or_lying_charset_gives_replacement_characters_not_an_error() -> None:
    unknown = parse(
        raw_mail(b"caf\xe9 cr\xe8me", content_type="Content-Type: text/plain; charset=x-martian")
    )
    assert unknown.text == "caf\ufffd cr\ufffdme"
    lying = parse(raw_mail(b"caf\xe9", content_type="Content-Type: text/plain; charset=utf-8"))
    assert lying.text == "caf\ufffd"


def test_rfc2047_subject_and_sender_name_are_decoded() -> None:
    raw = (
        b"From: =?utf-8?q?Fran=C3=A7ois_L=C3=A9ger?= <fl@example.org>\r\n"
        b"To: voirie@ville.example\r\n"
        b"Subject: =?iso-8859-1?q?Probl=E8me_d=27=E9clairage?= =?utf-8?b?IOKAkyBydWUgQQ==?=\r\n"
        b"Message-ID: <x@example.org>\r\n\r\nbonjour\r\n"
    )
    mail = parse(raw)
    assert mail.subject == "Problème d'éclairage – rue A"
    assert mail.sender_name == "François Léger"


def test_html_only_mail_is_turned_into_text_without_script_or_style() -> None:
    html = (
        b"<html><head><style>p{color:red}</style><title>t</title></head><body>"
        b"<p>Bonjour,</p><p>Le lampadaire <b>rue&nbsp;A</b> est &eacute;teint.</p>"
        b"<script>alert('x')</script><div>Merci</div></body></html>"
    )
    mail = parse(raw_mail(html, content_type="Content-Type: text/html; charset=utf-8"))
    assert mail.text == "Bonjour,\n\nLe lampadaire rue A est éteint.\n\nMerci"
    assert "alert" not in mail.text
    assert "color" not in mail.text


def test_text_plain_is_preferred_to_html_in_an_alternative() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "voirie@ville.example"
    msg["Subject"] = "Alt"
    msg["Message-ID"] = "<alt@example.org>"
    msg.set_content("version texte")
    msg.add_alternative("<p>version <i>HTML</i></p>", subtype="html")
    assert parse(msg.as_bytes()).text == "version texte"


def test_attachments_keep_bytes_and_a_sanitised_name() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "voirie@ville.example"
    msg["Subject"] = "Photos"
    msg["Message-ID"] = "<att@example.org>"
    msg.set_content("voir pièces jointes")
    msg.add_attachment(
        b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="../../etc/passwd"
    )
    msg.add_attachment(
        b"\x89PNG\r\n\x1a\n", maintype="image", subtype="png", filename="..\\..\\win\\photo.png"
    )
    msg.add_attachment(b"x", maintype="application", subtype="octet-stream", filename="..")
    mail = parse(msg.as_bytes())
    assert [a.filename for a in mail.attachments] == ["passwd", "photo.png", "piece-jointe-3"]
    assert mail.attachments[0].data == b"%PDF-1.4 x"
    assert mail.attachments[1].content_type == "image/png"
    assert mail.text == "voir pièces jointes"


def test_sanitise_filename_drops_control_characters_and_leading_dots() -> None:
    assert sanitise_filename("\x00.bashrc\r\n", 1) == "bashrc"
    assert sanitise_filename("/var/spool/ok.pdf", 1) == "ok.pdf"
    long = sanitise_filename("a" * 400 + ".pdf", 1)
    assert len(long) == 255
    assert long.endswith(".pdf")


def test_too_many_attachments_is_rejected() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["Message-ID"] = "<many@example.org>"
    msg.set_content("bombe")
    for i in range(500):
        msg.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"{i}")
    with pytest.raises(MailRejected) as caught:
        parse(msg.as_bytes(), max_attachments=50)
    assert caught.value.code == "too_many_attachments"
    assert "50 pièces jointes" in caught.value.reason


def test_too_big_is_rejected_before_parsing() -> None:
    with pytest.raises(MailRejected) as caught:
        parse(raw_mail(b"x" * 2000), max_bytes=1000)
    assert caught.value.code == "too_big"


@pytest.mark.parametrize("raw", [b"", b"\r\n\r\n", b"pas un courriel du tout"])
def test_mail_without_headers_is_rejected(raw: bytes) -> None:
    with pytest.raises(MailRejected) as caught:
        parse(raw)
    assert caught.value.code == "malformed"


def test_malformed_mime_is_read_as_far_as_possible() -> None:
    # multipart without boundary, then a multipart whose closing boundary is missing
    no_boundary = parse(raw_mail(b"texte brut\r\n", content_type="Content-Type: multipart/mixed"))
    assert no_boundary.text == "texte brut"
    truncated = parse(
        raw_mail(
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nd\xc3\xa9but\r\n--b1\r\n"
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n!!!pas du base64",
            content_type='Content-Type: multipart/mixed; boundary="b1"',
        )
    )
    assert truncated.text == "début"
    assert [a.filename for a in truncated.attachments] == ["a.pdf"]


def test_missing_message_id_gets_a_stable_one() -> None:
    raw = b"From: a@example.org\r\nSubject: x\r\n\r\nbody"
    assert parse(raw).message_id == parse(raw).message_id
    assert parse(raw).message_id.startswith("<sans-id-")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Auto-Submitted: auto-replied\r\n", True),
        ("Auto-Submitted: no\r\n", False),
        ("Precedence: bulk\r\n", True),
        ("Precedence: junk\r\n", True),
        ("Precedence: list\r\n", True),
        ("X-Autoreply: yes\r\n", True),
        ("", False),
    ],
)
def test_automatic_mails_are_recognised(header: str, expected: bool) -> None:
    mail = parse(raw_mail(b"Je suis absent.", headers=header))
    assert mail.auto_submitted is expected
    assert (mail.auto_reason is not None) is expected


def test_our_own_message_id_domain_is_a_loop() -> None:
    raw = raw_mail(b"x").replace(b"<abc123@example.org>", b"<notif-1@guichet.example>")
    assert parse(raw, own_domains=frozenset({"guichet.example"})).auto_submitted
    assert not parse(raw).auto_submitted


def test_bounce_from_mailer_daemon_is_automatic() -> None:
    raw = raw_mail(b"Undelivered").replace(
        b"Jeanne Dupont <Jeanne.Dupont@example.org>", b"MAILER-DAEMON@mx.example.org"
    )
    assert parse(raw).auto_submitted
