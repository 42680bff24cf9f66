"""The audit trail: who changed what, and proof that the stored history was not altered.

Owns the history (``history``), the checkpoints that seal the log (``checkpoints``), their verification
(``verify``), the replay and comparison of the read models (``rebuild``), the re-keying of an encrypted store's
ids (``rekey``), and the progress that these long runs show (``progress``).

Imports ``read`` and ``write``, never ``http`` or ``publish``.
"""
