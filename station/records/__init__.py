"""What happens at the station, recorded locally: the append-only journal (``journal``: plays,
study sessions, logins, logbook, notice views), the attendance rules on top of it
(``attendance``: open plays, resume points, sessions, the five-ones self-check), the figures the
admin page shows (``figures``) and the stored forms of the records ``station.model.attendance``
defines (``forms``: the only place they become journal lines and documents).
"""
