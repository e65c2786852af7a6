"""Getting the signed repository onto the box: one sync pass (``engine``: verified index, the
playlists that target this station, a plan, downloads, one atomic install), the planned files
into the store (``files``), the network behind one small interface (``fetcher``), the pure
download plan (``plan``), recording how a pass went (``runner``) and the carriers besides a
mirror: a USB stick or a folder (``carriers``). The trust rules and the state they remember live
in ``playlists`` (``trust``, ``trusted_set``); this package fetches and persists.
"""
