"""Users, roles, login sessions and API tokens, and the ``Principal`` that every service checks.

Permission and tenant checks live in services and repository queries, using the helpers here::

    require_role(principal, Role.LICENSING_OFFICER)
    require_platform_access(principal, platform_id)
    stmt = scope_to_platforms(select(Application), Application.platform_id, principal)
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from harbour.core.db import Base, utcnow
from harbour.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated


class Role(enum.StrEnum):
    PUBLIC = "public"
    PLATFORM_USER = "platform_user"
    LICENSING_OFFICER = "licensing_officer"
    SUPERVISOR = "supervisor"
    ASSESSOR = "assessor"
    ADMIN = "admin"


# Roles of the regulator's own staff: they see every platform.
REGULATOR_ROLES = frozenset({Role.LICENSING_OFFICER, Role.SUPERVISOR, Role.ADMIN})

_hasher = PasswordHasher()  # argon2id with the library's recommended cost


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters (the test suite uses a cheap profile: hashing dominates its run time).
    Hashes record their own parameters, so existing hashes still verify after a swap."""
    global _hasher
    _hasher = hasher


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True, index=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(30))
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AssessorAssignment(Base):
    """An external assessor engaged for a platform (the tripartite engagement)."""

    __tablename__ = "assessor_assignments"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuthToken(Base):
    """A login session (cookie) or API token; only the SHA-256 of the token is stored."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(10))  # "session" | "api"
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user with a role, or the anonymous public."""

    user_id: int | None
    username: str
    role: Role
    platform_id: int | None = None
    assessor_platform_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_regulator(self) -> bool:
        return self.role in REGULATOR_ROLES

    def visible_platform_ids(self) -> frozenset[int] | None:
        """Platforms this principal may see; ``None`` means all of them."""
        if self.is_regulator:
            return None
        if self.role == Role.PLATFORM_USER and self.platform_id is not None:
            return frozenset({self.platform_id})
        if self.role == Role.ASSESSOR:
            return self.assessor_platform_ids
        return frozenset()

    def can_see_platform(self, platform_id: int) -> bool:
        visible = self.visible_platform_ids()
        return visible is None or platform_id in visible


PUBLIC = Principal(user_id=None, username="public", role=Role.PUBLIC)
SYSTEM = Principal(user_id=None, username="system", role=Role.ADMIN)


def require_role(principal: Principal, *roles: Role) -> None:
    if not principal.is_authenticated and principal is not SYSTEM:
        raise Unauthenticated("log in first: this action needs one of the roles " + ", ".join(roles))
    if principal.role not in roles:
        raise Forbidden(f"this action needs one of the roles {', '.join(roles)}; you are {principal.role}")


def require_platform_access(principal: Principal, platform_id: int) -> None:
    # Same message as for a missing record, so a platform user cannot probe other tenants' ids.
    if not principal.can_see_platform(platform_id):
        raise NotFound(f"no record for platform {platform_id} that you may see")


def scope_to_platforms(stmt: Any, platform_column: Any, principal: Principal) -> Any:
    """Restrict a SELECT to the platforms the principal may see."""
    visible = principal.visible_platform_ids()
    if visible is None:
        return stmt
    return stmt.where(platform_column.in_(sorted(visible)))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def principal_for(session: Session, user: User) -> Principal:
    assigned: frozenset[int] = frozenset()
    if user.role == Role.ASSESSOR:
        rows = session.scalars(select(AssessorAssignment.platform_id).where(AssessorAssignment.user_id == user.id))
        assigned = frozenset(rows)
    return Principal(user.id, user.username, Role(user.role), user.platform_id, assigned)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str | None = None,
    platform_id: int | None = None,
) -> User:
    """Create a user; a platform user must be bound to exactly one platform."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise Invalid(f"unknown role {role!r}; choose one of {', '.join(Role)}", field="role") from exc
    if role == Role.PUBLIC:
        raise Invalid("the public role is for anonymous visitors, not accounts", field="role")
    if role == Role.PLATFORM_USER and platform_id is None:
        raise Invalid("a platform user must be bound to a platform", field="platform_id")
    if len(password) < 8:
        raise Invalid("passwords need at least 8 characters", field="password")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken", field="username")
    user = User(
        username=username,
        display_name=display_name or username,
        role=str(role),
        platform_id=platform_id if role == Role.PLATFORM_USER else None,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    return user


def assign_assessor(session: Session, user_id: int, platform_id: int) -> None:
    if session.get(AssessorAssignment, (user_id, platform_id)) is None:
        session.add(AssessorAssignment(user_id=user_id, platform_id=platform_id))
        session.flush()


def authenticate(session: Session, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not verify_password(user.password_hash, password):
        raise Unauthenticated("unknown username or wrong password", field="password")
    return user


def issue_token(session: Session, user: User, kind: str, hours: int) -> str:
    """Create a session or API token and return it; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    session.add(
        AuthToken(
            token_hash=_token_hash(token),
            user_id=user.id,
            kind=kind,
            expires_at=utcnow() + dt.timedelta(hours=hours),
        )
    )
    session.flush()
    return token


def revoke_token(session: Session, token: str) -> None:
    row = session.scalar(select(AuthToken).where(AuthToken.token_hash == _token_hash(token)))
    if row is not None:
        session.delete(row)
        session.flush()


def principal_from_token(session: Session, token: str) -> Principal | None:
    row = session.scalar(select(AuthToken).where(AuthToken.token_hash == _token_hash(token)))
    if row is None or row.expires_at < utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return principal_for(session, user)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
