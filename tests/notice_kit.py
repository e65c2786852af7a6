"""Notices reviewed and signed off through the service layer (issue 14), for tests that publish
notices: a reviewer account (``shen-he``, editor with the reviewer right) reviews and an admin
(``qian-fa``) signs off — neither drafted it."""

from __future__ import annotations

from pathlib import Path

from headend.service import open_root
from headend.service.accounts import add_user
from headend.service.audit import Actor
from headend.service.notices import review_notice, sign_notice

REVIEWER, SIGNER = "shen-he", "qian-fa"
TEST = Actor("cli:test", "local")


def staff(h) -> None:
    """The reviewer and the signing admin, made once per data root."""
    if h.db.users.get(REVIEWER) is None:
        add_user(h, TEST, REVIEWER, "editor", None, "shen-he-password-1", reviewer=True)
    if h.db.users.get(SIGNER) is None:
        add_user(h, TEST, SIGNER, "admin", None, "qian-fa-password-1")


def sign_off(root: Path, *notice_ids: str) -> None:
    """Review and sign off the notice files as they are now (the next publish sends them)."""
    with open_root(root) as h:
        staff(h)
        for nid in notice_ids:
            review_notice(h, nid, REVIEWER, TEST)
            sign_notice(h, nid, SIGNER, TEST)
