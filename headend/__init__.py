"""The headend: ingest courseware, transcode it per player profile, keep the catalogue, publish the
signed static repository and serve it with the county dashboard. Layers, each calling only down:
``cli`` and ``web`` (entry points) → ``loops`` (job worker, inbox watcher) → ``service`` (every
action) → ``courseware`` and ``repository`` (the work itself) → ``db`` (every SQL statement) →
``config`` and ``errors``."""
