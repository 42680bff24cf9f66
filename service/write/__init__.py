"""The write side: what may change and how a change is stored.

Owns the application (``application``: commands, state loaded from the store), its one writer with group commit
(``writer``: a batch decided in order and stored in one transaction) and the writer's decision state (``memory``), the
decisions (``decisions``: pure ``decide_*``/``evolve`` functions), the typed commands and their rules (``commands``,
``rules``), preconditions and idempotency (``conditions``), the errors a command can raise (``errors``), the ids
derived from values (``ids``), and the stored format: the event store's infrastructure (``store``), its hash chain
(``chain``), its transcoder (``transcoder``) and the one reader of its notification log (``log``).

Imports ``events`` and ``projections``, and nothing else of ``service``: every other part builds on this one.
"""
