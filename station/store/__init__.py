"""What the box keeps on disk: the installed set, trust state, mirror health and sync status as
documents (``documents``: ``Store``, with the in-memory snapshot the pages read), the verified
media files and repository copy (``media``) and the JSON files under both (``jsonfile``: atomic
TinyDB storage, the stat-checked read cache). Records go in and come out as ``station.model``
objects; only this package turns them into documents.
"""

from station.store.documents import Store
from station.store.jsonfile import AtomicJSONStorage

__all__ = ["AtomicJSONStorage", "Store"]
