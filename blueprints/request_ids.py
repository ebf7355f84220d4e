"""Every request gets an id that its log lines carry (store/log_context.py) and its response
returns in `X-Request-ID`; a sync the request starts carries it on into its thread.

Behind a trusted reverse proxy (TRUSTED_PROXIES >= 1) the id the proxy sends in `X-Request-ID`
is kept, so that the proxy's log and the app's name the same request; otherwise, and when the
header is too long or holds other characters than an id's, a new one is made. An `@` or a space
is refused, so that no email or name can pass itself off as an id.
"""

from __future__ import annotations

import re

from flask import Flask, current_app, g, request

from store import log_context

HEADER = "X-Request-ID"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")


def init_app(app: Flask) -> None:
    """Give every request its id. Call first: a check that answers early (a bad request, a
    login redirect) ends the request before later `before_request` functions run."""
    app.before_request(bind_request_id)
    app.after_request(return_request_id)
    app.teardown_request(unbind_request_id)


def chosen_request_id() -> str:
    """The trusted proxy's id for this request when it sent a usable one, else a new one."""
    sent = request.headers.get(HEADER, "")
    if current_app.config["TRUSTED_PROXIES"] >= 1 and _ACCEPTED.fullmatch(sent):
        return sent
    return log_context.new_id()


def bind_request_id() -> None:
    g.request_id = chosen_request_id()
    g.request_id_token = log_context.request_id.set(g.request_id)


def return_request_id(response):
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
    return response


def unbind_request_id(_exc) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        log_context.request_id.reset(token)
