"""The village station: sync over flaky links, the TV page driven by a remote, the admin page and
the local journal.

Layers call down, never up or sideways into another layer's private function::

    cli, daemon                 the ``station`` command; ``serve`` = web app + sync loop
      web/                      aiohttp app: TV, player, study sessions, admin, /repo/ mirror
        sync/ | records/ | status    the sync pass (network) | journal, attendance | status report
          store/, model/        what the box keeps: on disk, and as frozen dataclasses
            config, errors, i18n, format    station.toml, the exception tree, gettext, display
"""
