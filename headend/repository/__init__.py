"""The signed static repository: ``publish`` turns the catalogue and the county's playlist and
notice files (``programming``) into the next signed version, built aside and switched to at once
(``tree``); ``keys`` holds the signing key and its rotation. What a tree contains and how it is
signed is defined by the pure ``playlists`` package; this package decides what goes in and does
the disk work."""
