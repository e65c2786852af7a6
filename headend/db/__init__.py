"""The headend's database layer: it owns every SQL statement. SQLite (the embedded default,
``<root>/headend.db``, WAL) or PostgreSQL (``[database] url``), through SQLAlchemy Core; the schema
is built by versioned Alembic migrations (``migrations/``) applied once when the database is
opened (``Database.open``), and a database made before migrations is adopted. It hands out
records (``records``), never rows, and turns every database failure into ``DatabaseError`` with a
message saying what to do. Blocking: async code calls it through ``asyncio.to_thread``."""

from headend.db.database import Database
from headend.db.engine import now_iso
from headend.db.jobs import JobStore
from headend.db.records import Job, LiveClass, Publication, Rendition, Station

__all__ = ["Database", "Job", "JobStore", "LiveClass", "Publication", "Rendition", "Station", "now_iso"]
