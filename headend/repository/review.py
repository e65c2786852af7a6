"""The rules of a notice's way out (issue 14): draft (草稿) → reviewed (已审核) by an account with
the reviewer right who did not draft it → signed off (已签发) by an admin who did not draft it.
Each step is bound to the sha256 of the notice file's bytes, so an edited file is a draft again.
Pure: it takes the files and the recorded steps and returns states or raises a refusal —
AccessDenied (403: not this account) or BadRequest (400: not in this state); the service
(``headend.service.notices``) reads and records them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from headend.db.records import NoticeReview, User
from headend.errors import AccessDenied, BadRequest
from headend.repository.programming import NoticeFile
from playlists import Audience, Notice

DRAFT, REVIEWED, SIGNED = "draft", "reviewed", "signed"
STATE_WORDS = {DRAFT: "草稿", REVIEWED: "已审核", SIGNED: "已签发"}
BY_HAND = "手工编辑的文件"  # a version nobody drafted through the headend (written in notices/ by hand)


@dataclass(frozen=True)
class NoticeState:
    """A notice file as it is now and the steps its current bytes went through (None: none)."""

    file: NoticeFile
    review: NoticeReview | None

    @property
    def notice(self) -> Notice:
        return self.file.notice

    @property
    def state(self) -> str:
        r = self.review
        if r is None or r.reviewed_by is None:
            return DRAFT
        return SIGNED if r.signed_by is not None else REVIEWED

    @property
    def words(self) -> str:
        return STATE_WORDS[self.state]

    @property
    def drafted_by(self) -> str:
        """Who drafted this version ("" when nobody is known: a file written by hand)."""
        return self.review.drafted_by if self.review else ""

    def steps(self) -> str:
        """Who did each step, in words: "起草 li-ming · 审核 wang-fang · 签发 admin"."""
        r = self.review
        out = [f"起草 {self.drafted_by or BY_HAND}"]
        if r is not None and r.reviewed_by:
            out.append(f"审核 {r.reviewed_by}")
        if r is not None and r.signed_by:
            out.append(f"签发 {r.signed_by}")
        return " · ".join(out)


def notice_states(files: Iterable[NoticeFile], reviews: Iterable[NoticeReview]) -> list[NoticeState]:
    by_version = {(r.notice_id, r.sha256): r for r in reviews}
    return [NoticeState(f, by_version.get((f.notice.id, f.sha256))) for f in files]


def signed_notices(files: Iterable[NoticeFile], reviews: Iterable[NoticeReview]) -> list[Notice]:
    """The notices whose current bytes were signed off: what a publish sends."""
    return [s.notice for s in notice_states(files, reviews) if s.state == SIGNED]


def check_scope(audience: Audience, account: User, station_regions: Mapping[str, tuple[str, ...]]) -> None:
    """Refuse unless every station ``audience`` can reach lies in ``account``'s region: a
    township's staff cannot send to the county, and only an account of the whole headend handles
    a notice for every station or one sent by tag (tags cross regions)."""
    if not account.region:
        return
    mine = "/".join(account.region)
    if audience.everyone or audience.tags:
        raise AccessDenied(
            f"面向全部站点或按标签发送的通知只能由不限地区的账号处理（{account.name} is bound to {mine}; "
            "give the notice regions or stations under it）"
        )
    for r in audience.regions:
        if len(r) < len(account.region) or r[: len(account.region)] != account.region:
            raise AccessDenied(f"通知发往 {'/'.join(r)}，超出账号 {account.name} 的地区 {mine}（outside {mine}）")
    for sid in audience.stations:
        region = station_regions.get(sid)
        if region is None or not account.sees(region):
            raise AccessDenied(f"通知发往站点 {sid}，不在账号 {account.name} 的地区 {mine} 内（outside {mine}）")


def check_review(state: NoticeState, account: User) -> None:
    """Refuse unless ``account`` may review (审核) this notice now."""
    nid = state.notice.id
    if account.disabled_at is not None:
        raise AccessDenied(f"账号 {account.name} 已停用（account {account.name} is disabled）")
    if not account.reviewer:
        raise AccessDenied(
            f"账号 {account.name} 没有审核权（account {account.name} lacks the reviewer right; "
            f"an admin grants it: headend user edit {account.name} --reviewer）"
        )
    if account.name == state.drafted_by:
        raise AccessDenied(
            f"不能审核自己起草的通知 {nid}（{account.name} drafted it; another reviewer must review it）"
        )
    if state.state != DRAFT:
        raise BadRequest(f"通知 {nid} 的状态是“{state.words}”，不用再审核（notice {nid} is already {state.state}）")


def check_sign(state: NoticeState, account: User) -> None:
    """Refuse unless ``account`` may sign this notice off (签发) now."""
    nid = state.notice.id
    if account.disabled_at is not None:
        raise AccessDenied(f"账号 {account.name} 已停用（account {account.name} is disabled）")
    if not account.can("admin"):
        raise AccessDenied(f"签发需要管理员账号（signing off needs an admin; {account.name} is {account.role}）")
    if account.name == state.drafted_by:
        raise AccessDenied(f"不能签发自己起草的通知 {nid}（{account.name} drafted it; another admin must sign it off）")
    if state.state == DRAFT:
        raise BadRequest(f"通知 {nid} 还没有审核，不能签发（notice {nid} is a draft: a reviewer must review it first）")
    if state.state == SIGNED:
        raise BadRequest(f"通知 {nid} 已经签发（notice {nid} is already signed off）")
    if not state.drafted_by and state.review is not None and account.name == state.review.reviewed_by:
        raise AccessDenied(
            f"通知 {nid} 是手工编辑的文件，审核和签发须是两个人（nobody is known to have drafted {nid}; "
            f"{account.name} reviewed it, so another admin must sign it off）"
        )
