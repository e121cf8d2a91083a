"""Rows of small, rarely edited tables that each process keeps for a few seconds after reading.

Every lead post names a course and a platform, every redemption a reward. Reading them from
PostgreSQL each time was two of a lead post's statements and a seventh of its Python time
(bench/leads_submit.py). A row saved or deleted through the ORM (the admin) is forgotten at once by
the process that saved it; the other processes see the change within `seconds`, about as stale as
the page the visitor clicked on. Anything that must be exact (stock counts, prices charged) is
read or written in its own statement, never from here.
"""

from time import monotonic

from django.db.models.signals import post_delete, post_save


class RecentRows:
    every = []  # so that tests can start each case with nothing remembered

    def __init__(self, queryset, *, seconds=10):
        """`queryset`: the rows that count, e.g. the active courses; forms list the same one."""
        self.queryset = queryset
        self.seconds = seconds
        self._rows = {}  # pk -> (monotonic expiry, row)
        RecentRows.every.append(self)
        for signal in (post_save, post_delete):
            signal.connect(self._forget_saved, sender=queryset.model, weak=False)

    def get(self, pk):
        """The row of the queryset with this primary key, or None."""
        cached = self._rows.get(pk)
        if cached is not None and cached[0] > monotonic():
            return cached[1]
        row = self.queryset.filter(pk=pk).first()
        if row is None:
            self._rows.pop(pk, None)
        else:
            self._rows[pk] = (monotonic() + self.seconds, row)
        return row

    def forget(self, pk=None):
        if pk is None:
            self._rows.clear()
        else:
            self._rows.pop(pk, None)

    def _forget_saved(self, sender, instance, **kwargs):
        self.forget(instance.pk)

    @classmethod
    def forget_everything(cls):
        for rows in cls.every:
            rows.forget()
