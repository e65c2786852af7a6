"""The fixed list of course categories, in display order, with zh-CN labels."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    id: str
    label: str  # zh-CN, shown on the TV page
    label_en: str


CATEGORIES: tuple[Category, ...] = (
    Category("party", "党员教育", "Party education"),
    Category("policy", "政策法规", "Policy and law"),
    Category("agriculture", "农业技术", "Farming techniques"),
    Category("skills", "就业技能", "Job skills"),
    Category("health", "卫生健康", "Health"),
    Category("safety", "安全常识", "Safety"),
    Category("culture", "文化生活", "Culture and life"),
)

_BY_ID = {c.id: c for c in CATEGORIES}


def category_label(category_id: str) -> str:
    """The zh-CN label of a category id (the id itself if unknown, for display only)."""
    cat = _BY_ID.get(category_id)
    return cat.label if cat else category_id


def find_category(value: str) -> Category | None:
    """A category by id or by its zh-CN or English label."""
    value = value.strip()
    if value in _BY_ID:
        return _BY_ID[value]
    for cat in CATEGORIES:
        if value in (cat.label, cat.label_en):
            return cat
    return None
