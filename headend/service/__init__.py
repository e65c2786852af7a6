"""The headend's actions, the one place the command line, the web pages and the background loops
all call: open or initialise a data root (``root``), ingest files, run the job queue, take a file
dropped into the inbox, edit a course (``courseware``), publish, write playlists and notices,
rotate the key (``repository``), draft, review and sign off notices (``notices``), register a
station (``stations``). Each takes a ``Headend`` (the
config and the open database) and returns records or raises a ``HeadendError`` saying what to
do; none parses arguments, prints or renders."""

from headend.service.root import Headend, InitResult, init_root, open_headend, open_root

__all__ = ["Headend", "InitResult", "init_root", "open_headend", "open_root"]
