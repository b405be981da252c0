"""Accounts and login sessions: users with roles, scrypt passwords, server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine, delete, func, select, update

from cvalues.annotate.db import ANNOTATORS, SESSIONS, upsert_insert, writing
from cvalues.annotate.passwords import dummy_hash, hash_password, password_problem, verify_password
from cvalues.annotate.user_errors import UserInputError
from cvalues.store.annotation_tables import ROLES
from cvalues.store.tables import utcnow

SESSION_LIFETIME = timedelta(hours=12)
MAX_NAME_CHARS = 64


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class LoginSession:
    user: User
    csrf_token: str


def token_digest(token: str) -> str:
    """What the sessions table keeps of a cookie token: its sha256, never the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_user_name(name: str) -> str:
    """A user name: 1-64 printable characters, no spaces (Chinese names are welcome)."""
    if not name or len(name) > MAX_NAME_CHARS:
        raise UserInputError("user_name_length", flag="NAME", limit=MAX_NAME_CHARS)
    for char in name:
        if char.isspace() or unicodedata.category(char).startswith("C"):
            raise UserInputError("user_name_chars", flag="NAME", name=name)
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserInputError("role_unknown", flag="--role", roles=", ".join(ROLES), value=repr(role))
    return role


def _refuse_losing_last_admin(conn: Connection, name: str) -> None:
    others = conn.execute(
        select(func.count())
        .select_from(ANNOTATORS)
        .where(
            ANNOTATORS.c.role == "admin",
            ANNOTATORS.c.active.is_(True),
            ANNOTATORS.c.password_hash != "",
            ANNOTATORS.c.name != name,
        )
    ).scalar_one()
    if not others:
        raise UserInputError("last_admin", flag="NAME", name=name)


class Accounts:
    """Users and their sessions in the store behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_user(self, name: str, role: str, password: str, *, update: bool = False) -> User:
        """Create an account. An existing name is refused unless ``update`` (then its role and
        password are replaced); an account imported without a password may be given one either way.
        The last active admin cannot be demoted."""
        check_user_name(name)
        check_role(role)
        problem = password_problem(password, name, role)
        if problem:
            raise problem
        values = {"name": name, "role": role, "password_hash": hash_password(password), "active": True}
        statement = upsert_insert(self.engine, ANNOTATORS).values(created=utcnow(), **values)
        statement = statement.on_conflict_do_update(index_elements=["name"], set_=values)
        with writing(self.engine) as conn:
            existing = conn.execute(select(ANNOTATORS).where(ANNOTATORS.c.name == name)).first()
            if existing is not None and existing.password_hash and not update:
                raise UserInputError("user_exists", flag="NAME", name=name)
            if existing is not None and existing.role == "admin" and role != "admin":
                _refuse_losing_last_admin(conn, name)
            conn.execute(statement)
            user_id = conn.execute(select(ANNOTATORS.c.id).where(ANNOTATORS.c.name == name)).scalar_one()
            # A new password or role ends the sessions opened with the old one.
            conn.execute(delete(SESSIONS).where(SESSIONS.c.annotator_id == user_id))
        return User(int(user_id), name, role)

    def ensure_user(self, name: str, role: str) -> User:
        """The account ``name``, created without a password (it cannot log in) if it does not exist."""
        check_user_name(name)
        check_role(role)
        statement = upsert_insert(self.engine, ANNOTATORS).values(
            name=name, role=role, password_hash="", active=True, created=utcnow()
        )
        with writing(self.engine) as conn:
            conn.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
            row = conn.execute(
                select(ANNOTATORS.c.id, ANNOTATORS.c.role).where(ANNOTATORS.c.name == name)
            ).one()
        return User(int(row.id), name, row.role)

    def is_active(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(select(ANNOTATORS.c.active).where(ANNOTATORS.c.name == name)).scalar())

    def disabled_names(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(
                conn.execute(select(ANNOTATORS.c.name).where(ANNOTATORS.c.active.is_(False))).scalars()
            )

    def get_user(self, name: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ANNOTATORS.c.id, ANNOTATORS.c.role).where(ANNOTATORS.c.name == name)
            ).first()
        return User(int(row.id), name, row.role) if row is not None else None

    def list_users(self) -> list[User]:
        query = select(ANNOTATORS.c.id, ANNOTATORS.c.name, ANNOTATORS.c.role).order_by(ANNOTATORS.c.name)
        with self.engine.connect() as conn:
            return [User(int(row.id), row.name, row.role) for row in conn.execute(query)]

    def set_active(self, name: str, active: bool) -> None:
        """Disable (ending every session at once) or re-enable an account; the last active admin
        cannot be disabled."""
        with writing(self.engine) as conn:
            row = conn.execute(
                select(ANNOTATORS.c.id, ANNOTATORS.c.role).where(ANNOTATORS.c.name == name)
            ).first()
            if row is None:
                raise UserInputError("no_user", flag="NAME", name=name)
            user_id = row.id
            if not active and row.role == "admin":
                _refuse_losing_last_admin(conn, name)
            conn.execute(update(ANNOTATORS).where(ANNOTATORS.c.id == user_id).values(active=active))
            if not active:
                conn.execute(delete(SESSIONS).where(SESSIONS.c.annotator_id == user_id))

    def authenticate(self, name: str, password: str) -> User | None:
        """The user whose name and password these are, or None (same work either way)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(ANNOTATORS).where(ANNOTATORS.c.name == name)).first()
        stored = row.password_hash if row is not None and row.password_hash else dummy_hash()
        matches = verify_password(password, stored)
        if row is None or not row.password_hash or not row.active or not matches:
            return None
        return User(int(row.id), row.name, row.role)

    def open_session(self, user: User) -> tuple[str, str]:
        """A new session for ``user``: (cookie token, CSRF token)."""
        token = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = utcnow()
        with writing(self.engine) as conn:
            # Sweeping expired sessions here keeps the table small without a background job.
            conn.execute(delete(SESSIONS).where(SESSIONS.c.expires < now))
            conn.execute(
                SESSIONS.insert().values(
                    token_hash=token_digest(token),
                    annotator_id=user.id,
                    csrf_token=csrf_token,
                    created=now,
                    expires=now + SESSION_LIFETIME,
                )
            )
        return token, csrf_token

    def session(self, token: str) -> LoginSession | None:
        """The live session of a cookie token, or None (unknown, expired, or the account disabled)."""
        query = (
            select(
                SESSIONS.c.csrf_token,
                SESSIONS.c.expires,
                ANNOTATORS.c.id,
                ANNOTATORS.c.name,
                ANNOTATORS.c.role,
            )
            .join(ANNOTATORS, ANNOTATORS.c.id == SESSIONS.c.annotator_id)
            .where(SESSIONS.c.token_hash == token_digest(token), ANNOTATORS.c.active.is_(True))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.expires <= utcnow():
            return None
        return LoginSession(User(int(row.id), row.name, row.role), row.csrf_token)

    def close_session(self, token: str) -> None:
        with writing(self.engine) as conn:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.token_hash == token_digest(token)))
