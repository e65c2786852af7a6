"""The course model shared by the headend and the station: course, category, validation, and the
checking both programs share: the id shape (``catalogue.ids``) and the strict reader of hand-written
TOML settings (``catalogue.tomlcheck``).

Pure: no network, no event loop, no disk.

Exceptions::

    CatalogueError (ValueError)
     └─ UnknownCategory
"""

from catalogue.categories import CATEGORIES, Category, category_label
from catalogue.course import CatalogueError, Course, UnknownCategory, course_id_for

__all__ = [
    "CATEGORIES",
    "CatalogueError",
    "Category",
    "Course",
    "UnknownCategory",
    "category_label",
    "course_id_for",
]
