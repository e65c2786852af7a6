"""``headend serve``'s web side: the app factory (``app``) and its keys (``keys``), the county
dashboard (``county``), the courses pages with the live job queue (``courses``), the published
tree under ``/repo/`` (``repo``) and the one error middleware (``errors``). Handlers call the
service layer and the database's read methods through ``asyncio.to_thread``; no SQL, no
business rules here."""
