"""What runs after a take is on disk: the sink contract (:mod:`.protocol`), running the
configured sinks (:mod:`.run`), the outbox of deliveries to retry (:mod:`.outbox`), the
built-in sinks (:mod:`.builtin`) and a Generation as JSON data (:mod:`.serialize`).
"""
