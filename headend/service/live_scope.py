"""Who sees and changes which live class on the county pages (issue 16): a class is listed to an
account bound to a region when it may reach a station there (``touches``: its audience inside or
overlapping the region, every station, or tags, which cross regions); the account schedules and
cancels only classes that reach no station outside it (``check_reach``, ``within``). An account of
the whole headend (no region) sees and changes every class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from headend.db import LiveClass
from headend.db.records import User
from headend.errors import BadRequest
from headend.repository.live import audience_of
from headend.service.root import Headend
from playlists import Audience


def station_regions(h: Headend) -> dict[str, tuple[str, ...]]:
    """Each registered station's region, by id (what the checks below take as ``regions``)."""
    return {s.id: s.region for s in h.db.stations()}


def _under(region: Sequence[str], prefix: Sequence[str]) -> bool:
    return tuple(region[: len(prefix)]) == tuple(prefix)


def check_reach(account: User, audience: Audience, regions: Mapping[str, tuple[str, ...]]) -> None:
    """Refuse (BadRequest naming the field) an audience reaching beyond ``account``'s region: a
    bound account targets regions or stations under its own; only an account of the whole
    headend schedules a class for every station or by tag (tags cross regions). A station id
    nobody registered is refused for every account (a typo would reach nobody)."""
    unknown = [s for s in audience.stations if s not in regions]
    if unknown:
        raise BadRequest(f"没有登记这个站点：{unknown[0]}（no station {unknown[0]}）", field="stations")
    if not account.region:
        return
    mine = "/".join(account.region)
    if audience.everyone:
        raise BadRequest(f"请填写面向的地区（{mine} 或其下属地区）（give the audience's regions）", field="regions")
    if audience.tags:
        raise BadRequest(
            f"按标签发送只能由不限地区的账号安排；请改填 {mine} 下的地区或站点（tags cross regions）", field="tags"
        )
    for r in audience.regions:
        if len(r) < len(account.region) or not _under(r, account.region):
            raise BadRequest(f"地区 {'/'.join(r)} 超出您的地区 {mine}（outside {mine}）", field="regions")
    for sid in audience.stations:
        if not account.sees(regions[sid]):
            raise BadRequest(f"站点 {sid} 不在您的地区 {mine} 内（outside {mine}）", field="stations")


def _audience(x: LiveClass) -> Audience | None:
    try:
        return audience_of(x)
    except ValueError:  # a damaged record: shown to accounts of the whole headend only
        return None


def touches(x: LiveClass, region: Sequence[str], regions: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether the class may reach a station of ``region`` (its audience inside or overlapping
    it; every station; or by tag, which crosses regions): the county pages of an account bound
    to ``region`` list it. () is the whole headend."""
    if not region:
        return True
    aud = _audience(x)
    if aud is None:
        return False
    if aud.everyone or aud.tags:
        return True
    if any(_under(r, region) or _under(region, r) for r in aud.regions):
        return True
    return any(_under(regions.get(s, ()), region) for s in aud.stations if s in regions)


def within(x: LiveClass, account: User, regions: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether the class reaches only stations of ``account``'s region (so the account may cancel it)."""
    if not account.region:
        return True
    aud = _audience(x)
    if aud is None or aud.everyone or aud.tags:
        return False
    return all(_under(r, account.region) and len(r) >= len(account.region) for r in aud.regions) and all(
        s in regions and account.sees(regions[s]) for s in aud.stations
    )
