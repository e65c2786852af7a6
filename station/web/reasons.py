"""Why a sync failed, in the administrator's language. The sync engine records its reasons in
English for the log and for county staff ("http://…/media/ab/….mp4: HTTP 404"); the admin page
names the kind of each reason through gettext and keeps the raw text beside it, folded away
(pure: no I/O).

A reason that already reads in Chinese (a hand-written or older record) is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from station.i18n import N_, Gettext

# (what the raw reason says, what kind of trouble that is); the first match of each part wins
KINDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), msgid)
    for pattern, msgid in (
        (r"no rendition for player", N_("There is no version of this course for this box's player; ask county staff.")),
        (r"does not fit \[sync\] quota_mb", N_("It does not fit the storage quota ([sync] quota_mb).")),
        (r"waits for the download window", N_("It waits for the download window.")),
        (
            r"disk is full|disk has .* free|reserve_free_mb",
            N_("The disk is full: delete what is not needed, then sync again."),
        ),
        (r"sha256 differs", N_("A downloaded file was damaged or altered and was thrown away; it is fetched again.")),
        (
            r"byte limit|bytes the signed playlist declares",
            N_("A file was bigger than the signed list says and was refused."),
        ),
        (r"expired", N_("The content list has expired: the source has an old copy, or this box's date is wrong.")),
        (
            r"older than version|rollback|seen before with different",
            N_("The source offers older content than this box has."),
        ),
        (
            r"signature|not a trusted key|signed by key",
            N_("The content's signature is not valid; nothing was changed."),
        ),
        (r"HTTP 404", N_("The content source does not have this file yet (it may still be on its way).")),
        (r"HTTP 5\d\d", N_("The content source had a server error; this usually passes, sync again later.")),
        (r"HTTP (?!404|5\d\d)\d\d\d", N_("The content source refused the download.")),
        (r"cannot connect", N_("Could not reach the content source: check the broadband.")),
        (r"timed out|stalled|too slow", N_("The content source stopped sending (too slow or stalled).")),
        (
            r"connection (dropped|ended)",
            N_("The connection broke off during the download; it goes on from there next time."),
        ),
        (r"not a usable (url|file path)", N_("A content source address in station.toml is wrong ([sync] mirrors).")),
        (r"missing from the copy|not a plain file", N_("The copied content (USB stick) is incomplete; copy it again.")),
        (r"could not install", N_("The new content could not be installed; the previous content still plays.")),
        (
            r"not valid json|missing field|wrong type|not a yuanjiao|nested too deeply",
            N_("A file from the content source is damaged."),
        ),
    )
)
UNKNOWN = N_("The download did not succeed; the details are below.")
NO_INDEX = N_("No content source gave a valid content list; nothing was changed.")
STILL_PLAYS = N_("The previous version still plays.")

_COURSE = re.compile(r"^\s*(?:[a-z0-9-]+ )?《(?P<title>[^》]*)》\s*:\s*(?P<rest>.*)$", re.DOTALL)
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Reason:
    text: str  # in the page's language
    raw: str  # as the engine recorded it ("" when the text is the raw reason)


def kinds(_: Gettext, raw: str) -> list[str]:
    """Each kind of trouble ``raw`` names, once, in the order of ``KINDS``."""
    return [_(msgid) for pattern, msgid in KINDS if pattern.search(raw)]


def explain(_: Gettext, raw: str | None) -> Reason:
    """One recorded reason as the admin page shows it: "《title》：" for a course, then what kind
    of trouble it is; the raw text goes along for the folded details."""
    raw = (raw or "").strip()
    course = _COURSE.match(raw)
    if not raw or (not course and _CJK.search(raw)):
        return Reason(raw, "")
    rest = course.group("rest") if course else raw
    words = [_(NO_INDEX)] if rest.lower().startswith("no mirror gave a valid index") else []
    words += kinds(_, rest) or ([] if words else [_(UNKNOWN)])
    if "the previous version still plays" in rest:
        words.append(_(STILL_PLAYS))
    text = " ".join(words)
    return Reason(f"《{course.group('title')}》：{text}" if course else text, raw)
