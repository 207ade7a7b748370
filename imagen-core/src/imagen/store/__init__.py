"""imagen's SQLite files: opening them safely (:mod:`.sqlitefile`), the history of every take
(:mod:`.history`), cache lookups over it (:mod:`.cache`) and usage reports (:mod:`.usage`).
"""
