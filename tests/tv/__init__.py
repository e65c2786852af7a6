"""The station's TV page and admin page as a viewer and an administrator meet them: a station
synced from a signed repository of real clips (``station.py``), its server-rendered pages over
HTTP (``test_pages``, ``test_admin``, ``test_i18n``), and the remote control in the system
Chromium (``test_remote``, ``test_player``, ``test_channel``, ``test_study``, ``test_layout``),
one browser for all of them (``conftest.py``)."""
