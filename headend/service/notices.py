"""Notices with review (issue 14, 编辑、审核、签发): draft a notice file (the CLI, or an editor on
the county page), review it (an account with the reviewer right that did not draft it), sign it
off (an admin that did not draft it); the next publish sends it. Each step is bound to the sha256
of the file's bytes (``headend.repository.review``) and audit-logged: ``notice.draft``,
``notice.review``, ``notice.sign``. Staff bound to a region handle only notices whose audience lies in it (``check_scope``).
Refusals are AccessDenied (403: not this account, or beyond its region) or
BadRequest (400: not in this state, or the file changed since the page was shown)."""

from __future__ import annotations

from pathlib import Path

from headend.db import now_iso
from headend.db.records import User
from headend.errors import BadRequest, HeadendError, NotFound
from headend.repository.programming import (
    check_definition_name,
    load_notice_file,
    load_notice_files,
    write_definition,
)
from headend.repository.review import NoticeState, check_review, check_scope, check_sign, notice_states
from headend.service.audit import Actor, audit
from headend.service.root import Headend
from playlists.atomic import atomic_write


def states(h: Headend) -> list[NoticeState]:
    """Every notice file with its state (PublishError names a broken file)."""
    return notice_states(load_notice_files(h.cfg.root), h.db.notice_reviews.all())


def state_of(h: Headend, notice_id: str) -> NoticeState:
    found = next((s for s in states(h) if s.notice.id == notice_id), None)
    if found is None:
        raise NotFound(f"没有通知 {notice_id[:64]}（no notice {notice_id[:64]}; `headend notice list` shows them）")
    return found


def draft_notice(
    h: Headend,
    notice_id: str,
    data: dict,
    actor: Actor | None = None,
    replace: bool = False,
    account: User | None = None,
) -> Path:
    """Write ``notices/<id>.toml`` (``replace``: over the one there) and record it as drafted by
    ``actor``; the file that was there stays if the new one does not load (PublishError) or
    reaches beyond ``account``'s region (AccessDenied; no account: the command line)."""
    actor = actor or Actor.cli()
    check_definition_name(notice_id)
    folder = h.cfg.root / "notices"
    path = folder / f"{notice_id}.toml"
    before = path.read_bytes() if replace and path.is_file() else None
    path = write_definition(folder, notice_id, data, replace=replace)
    try:
        nf = load_notice_file(path)
        if account is not None:
            check_scope(nf.notice.audience, account, _station_regions(h))
    except HeadendError:
        if before is None:
            path.unlink()
        else:
            atomic_write(path, before)
        raise
    h.db.notice_reviews.draft(nf.notice.id, nf.sha256, actor.name, now_iso())
    detail = {"title": nf.notice.title, "sha256": nf.sha256, "audience": nf.notice.audience.describe()}
    audit(h, actor, "notice.draft", nf.notice.id, detail)
    return path


def _station_regions(h: Headend) -> dict[str, tuple[str, ...]]:
    return {s.id: s.region for s in h.db.stations()}


def _account(h: Headend, name: str) -> User:
    account = h.db.users.get(name)
    if account is None:
        raise NotFound(f"no account {name[:60]}; `headend user list` shows them")
    return account


def _current(h: Headend, notice_id: str, seen_sha256: str | None) -> NoticeState:
    st = state_of(h, notice_id)
    if seen_sha256 is not None and seen_sha256 != st.file.sha256:
        raise BadRequest(
            f"通知 {notice_id} 在您打开页面后被修改过，请刷新后重新查看（the notice changed since the page was shown）"
        )
    return st


def review_notice(
    h: Headend, notice_id: str, account_name: str, actor: Actor | None = None, seen_sha256: str | None = None
) -> NoticeState:
    """``account_name`` reviews (审核) the notice's current version (``actor``: who pressed it —
    the account itself on the page, the operator at the command line). ``seen_sha256``: the
    version the page showed (refused if the file changed since)."""
    actor = actor or Actor.cli()
    account = _account(h, account_name)
    st = _current(h, notice_id, seen_sha256)
    check_review(st, account)
    check_scope(st.notice.audience, account, _station_regions(h))
    if st.review is None:  # a file written by hand: its version is recorded with nobody as its drafter
        h.db.notice_reviews.draft(notice_id, st.file.sha256, "", now_iso())
    if not h.db.notice_reviews.review(notice_id, st.file.sha256, account.name, now_iso()):
        raise BadRequest(f"通知 {notice_id} 刚刚已被别人审核（someone reviewed it a moment ago）")
    audit(h, actor, "notice.review", notice_id, _detail(st, account))
    return state_of(h, notice_id)


def sign_notice(
    h: Headend, notice_id: str, account_name: str, actor: Actor | None = None, seen_sha256: str | None = None
) -> NoticeState:
    """The admin ``account_name`` signs off (签发) the notice's reviewed current version: the
    next publish sends it."""
    actor = actor or Actor.cli()
    account = _account(h, account_name)
    st = _current(h, notice_id, seen_sha256)
    check_sign(st, account)
    check_scope(st.notice.audience, account, _station_regions(h))
    if not h.db.notice_reviews.sign(notice_id, st.file.sha256, account.name, now_iso()):
        raise BadRequest(f"通知 {notice_id} 刚刚已被别人签发（someone signed it off a moment ago）")
    audit(h, actor, "notice.sign", notice_id, _detail(st, account))
    return state_of(h, notice_id)


def _detail(st: NoticeState, account: User) -> dict:
    return {"account": account.name, "title": st.notice.title, "sha256": st.file.sha256, "drafted_by": st.drafted_by}
