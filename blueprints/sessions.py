"""The browser's side of a sign-in: starting and ending it, checking it on every request, the
pending second step, and a session cookie that is Secure whenever the request came over https.

The signed cookie holds the server-side session's token (services/login_sessions.py decides
whether it still counts) and the time of the last request, for the idle limit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import login_user, logout_user

from blueprints.extensions import login_manager
from services import login_sessions
from store import clock

SESSION_TOKEN = "_session"
LAST_SEEN = "_seen"
# The last-request time is rewritten at most this often, so that not every response sets a
# cookie; a session may therefore end up to this much before the idle limit.
TOUCH_SECONDS = 60
# Between a right password and the code of an account with two-factor authentication.
SECOND_STEP = "_second_step"
SECOND_STEP_SECONDS = 300
# Everything Flask-Login and this module keep about a sign-in.
SIGN_IN_KEYS = ("_user_id", "_fresh", "_id", "_remember", SESSION_TOKEN, LAST_SEEN, SECOND_STEP)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure on https requests.

    Flask reads SESSION_COOKIE_SECURE once per app; the scheme is only known per request (behind
    TRUSTED_PROXIES it comes from X-Forwarded-Proto, via ProxyFix).
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def init_app(app: Flask) -> None:
    """Use the Secure-on-https cookie and check the server-side session on every request."""
    app.session_interface = SessionInterface()
    login_manager.user_loader(load_user)


def _now() -> int:
    return int(clock.now().timestamp())


def load_user(user_id: str):
    """The signed-in account (Flask-Login's user loader), or None when the session has ended:
    signed out, expired, revoked, or the account disabled."""
    seen = session.get(LAST_SEEN)
    last_seen = datetime.fromtimestamp(seen, UTC) if isinstance(seen, int) else None
    user = login_sessions.session_user(user_id, session.get(SESSION_TOKEN), last_seen)
    if user is None:
        _forget_sign_in()
        return None
    now = _now()
    if now - seen >= TOUCH_SECONDS:
        session[LAST_SEEN] = now
    return user


def _forget_sign_in() -> None:
    for key in SIGN_IN_KEYS:
        session.pop(key, None)


def clear_session() -> None:
    """Empty the session except for the chosen language."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def start(user) -> None:
    """Sign `user` in with a new server-side session.

    A fresh cookie session, too: nothing from before signing in carries over, except the language.
    """
    token = login_sessions.open_session(user)
    clear_session()
    login_user(user, force=True)  # the services checked that it may sign in
    session[SESSION_TOKEN] = token
    session[LAST_SEEN] = _now()


def end() -> None:
    """Sign out: end this session on the server, so that copies of the cookie die with it."""
    login_sessions.end_session(session.get(SESSION_TOKEN))
    logout_user()
    clear_session()


def end_everywhere(user_id: int) -> None:
    """Sign out here and end every other session of the account."""
    login_sessions.sign_out_everywhere(user_id)
    logout_user()
    clear_session()


def await_code(user, next_url: str | None) -> None:
    """Remember a right password while the second step asks for the code."""
    clear_session()
    session[SECOND_STEP] = {"user": user.id, "at": _now(), "next": next_url}


def pending_code() -> tuple[dict | None, bool]:
    """The second step waiting for its code (user id, next), and whether one has expired."""
    pending = session.get(SECOND_STEP)
    if not isinstance(pending, dict):
        return None, False
    if _now() - int(pending.get("at") or 0) > SECOND_STEP_SECONDS:
        session.pop(SECOND_STEP, None)
        return None, True
    return pending, False
