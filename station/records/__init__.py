"""What happens at the station, recorded locally: the append-only journal (``journal``: plays,
study sessions, logins, logbook, notice views) and the attendance rules on top of it
(``attendance``: open plays, resume points, sessions, the five-ones self-check, the figures).
"""
