"""Email over SMTP as the environment configures it (SMTP_*), for the alert emails.

Without SMTP_HOST nothing is sent. One connection per batch; `starttls` upgrades a plain
connection, `tls` speaks TLS from the first byte (port 465). Certificates are checked against
the system's CAs (a private CA: point SSL_CERT_FILE at it).
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

from flask import current_app

log = logging.getLogger(__name__)

SECURITY_MODES = ("none", "starttls", "tls")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send; `password` is never logged or shown."""

    host: str
    port: int
    security: str
    user: str
    password: str = ""
    sender: str = ""
    timeout: float = 20.0

    def __repr__(self) -> str:  # no password in a traceback or log line
        return f"SmtpSettings({self.host}:{self.port}, {self.security}, user={bool(self.user)})"


def check_mail_settings(config) -> None:
    """Refuse to start with an SMTP_SECURITY or PUBLIC_BASE_URL no email could use."""
    security = (config.get("SMTP_SECURITY") or "starttls").strip().lower()
    if security not in SECURITY_MODES:
        raise ValueError(f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}")
    base = (config.get("PUBLIC_BASE_URL") or "").strip()
    parts = urlsplit(base)
    if base and (parts.scheme not in ("http", "https") or not parts.netloc):
        raise ValueError("PUBLIC_BASE_URL must be an http(s):// address, e.g. https://host")


def smtp_settings() -> SmtpSettings | None:
    """The configured SMTP server (app context), or None without SMTP_HOST."""
    config = current_app.config
    host = (config.get("SMTP_HOST") or "").strip()
    if not host:
        return None
    security = (config.get("SMTP_SECURITY") or "starttls").strip().lower()
    user = config.get("SMTP_USER") or ""
    sender = (config.get("SMTP_SENDER") or "").strip()
    if not sender:
        sender = user if "@" in user else f"webinar-sync@{socket.getfqdn()}"
    return SmtpSettings(
        host=host,
        port=int(config.get("SMTP_PORT") or DEFAULT_PORTS[security]),
        security=security,
        user=user,
        password=config.get("SMTP_PASSWORD") or "",
        sender=sender,
        timeout=float(config.get("SMTP_TIMEOUT_SECONDS") or 20),
    )


def send_messages(smtp: SmtpSettings, messages: Iterable[EmailMessage]) -> int:
    """Send `messages` over one connection; returns how many the server accepted.

    A message whose recipient the server refuses is left out (trying again would not help);
    every other failure ends the batch.

    Raises:
        smtplib.SMTPException: the server refused the connection, the login or the sender.
        OSError: the server cannot be reached (ssl.SSLError for a certificate it does not trust).
    """
    messages = list(messages)
    if not messages:
        return 0
    context = ssl.create_default_context()
    if smtp.security == "tls":
        connection = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        connection = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    sent = 0
    with connection:
        if smtp.security == "starttls":
            connection.starttls(context=context)
        if smtp.user:
            connection.login(smtp.user, smtp.password)
        for message in messages:
            try:
                connection.send_message(message)
            except smtplib.SMTPRecipientsRefused:
                # Its text names the address: say only that one was refused.
                log.warning("the SMTP server refused a recipient of an alert email")
                continue
            sent += 1
    return sent
