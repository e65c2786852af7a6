"""Courseware: how a file becomes a course with one rendition per player profile and a poster.
``prepare`` checks a file before any work (metadata from ``sidecar``, ffprobe through ``media``);
``ingest`` runs one queued job (loudness pass from ``loudness``, the ffmpeg commands ``recipe``
compiles, the blob store); ``inbox`` holds the watch folder's file moves and the rule for when a
dropped file has settled. The queue itself is ``headend.db.jobs``; the loops that run it are
``headend.loops``. Nothing here parses arguments or serves pages."""
