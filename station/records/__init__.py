"""What happens at the station, recorded locally: the append-only journal (``journal``: plays,
study sessions, logins, logbook, notice views), the attendance rules on top of it
(``attendance``: resume points, sessions, the five-ones self-check; ``plays``: open plays, one per
TV), the rules that keep every record plausible (``rules``, pure), the figures the
admin page shows (the one fold ``catalogue.figures``, shared with the headend's roll-up) and the stored forms of the records ``station.model.attendance``
defines (``forms``: the only place they become journal lines and documents).
"""
