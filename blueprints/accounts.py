"""The accounts screen (admins only, like every route not marked for viewers): list the
accounts, add one with its role, change a role, disable or enable, reset a password, lift a
login lock, delete.

Every change posts a form and comes back to the list (303) with a flash message. The guard rails
(not one's own account, never the last enabled admin) are the service's (services/accounts.py).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from blueprints.forms import NewAccountForm, NewPasswordForm, RoleForm
from services import accounts
from store.database import db
from store.models import AdminUser

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


@bp.get("")
def index():
    """Every account with its role and state, and the form to add one."""
    return _render()


@bp.post("")
def create():
    """Add an account with a role."""
    form = NewAccountForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_admin(
                form.email.data, form.password.data, form.role.data, by=current_user.id
            )
        except accounts.AccountError as exc:
            form.email.errors = [*form.email.errors, exc.message]
        else:
            flash(_("Account %(email)s added.", email=user.email), "success")
            return redirect(url_for(".index"), 303)
    return _render(form, 422)


@bp.post("/<int:user_id>/role")
def change_role(user_id: int):
    """Give an account another role."""
    form = RoleForm()
    if not form.validate_on_submit():
        return _back(_("Choose a role: Admin or Viewer."), "error")
    return _change(
        user_id,
        lambda email: accounts.set_role(email, form.role.data, by=current_user.id),
        lambda email: _("%(email)s now has the role %(role)s.", email=email, role=_role(form)),
    )


@bp.post("/<int:user_id>/disable")
def disable(user_id: int):
    """Disable an account: it cannot sign in, and its sessions end."""
    return _change(
        user_id,
        lambda email: accounts.disable_admin(email, by=current_user.id),
        lambda email: _("%(email)s is disabled and signed out everywhere.", email=email),
    )


@bp.post("/<int:user_id>/enable")
def enable(user_id: int):
    """Let a disabled account sign in again."""
    return _change(
        user_id,
        lambda email: accounts.enable_admin(email, by=current_user.id),
        lambda email: _("%(email)s can sign in again.", email=email),
    )


@bp.post("/<int:user_id>/unlock")
def unlock(user_id: int):
    """Lift the lock that failed sign-ins put on an account."""
    return _change(user_id, accounts.unlock, lambda email: _("%(email)s is unlocked.", email=email))


@bp.post("/<int:user_id>/password")
def reset_password(user_id: int):
    """Set a new password for an account; its sessions end and a lock lifts."""
    form = NewPasswordForm()
    if not form.validate_on_submit():
        problems = [error for errors in form.errors.values() for error in errors]
        return _back(" ".join(str(problem) for problem in problems), "error")
    return _change(
        user_id,
        lambda email: accounts.set_password(email, form.password.data),
        lambda email: _("%(email)s has a new password and is signed out everywhere.", email=email),
    )


@bp.post("/<int:user_id>/delete")
def delete(user_id: int):
    """Delete an account for good; its sessions end."""
    return _change(
        user_id,
        lambda email: accounts.delete_admin(email, by=current_user.id),
        lambda email: _("Account %(email)s deleted.", email=email),
    )


def _change(user_id: int, change: Callable[[str], object], done: Callable[[str], str]):
    """Apply `change` to the account's email and come back to the list with the outcome."""
    email = db.get_or_404(AdminUser, user_id).email
    try:
        change(email)
    except accounts.AccountError as exc:
        return _back(str(exc.message), "error")
    return _back(done(email), "success")


def _back(message: str, kind: str):
    flash(message, kind)
    return redirect(url_for(".index"), 303)


def _role(form: RoleForm) -> str:
    return str(accounts.ROLE_LABELS[form.role.data])


def _render(form: NewAccountForm | None = None, status: int = 200):
    return (
        render_template(
            "accounts/index.html",
            accounts=accounts.list_admins(),
            form=form or NewAccountForm(),
            role_labels=accounts.ROLE_LABELS,
            min_password_length=accounts.MIN_PASSWORD_LENGTH,
        ),
        status,
    )
