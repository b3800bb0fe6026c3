"""The mail channel: mails received by LMTP/SMTP or fetched by IMAP become cases, case messages or
items of the agents' triage queue (``channels.mail.service``)."""
