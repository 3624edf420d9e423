"""What a PostgreSQL writer remembers of the runs it stored last, to skip a batch's read.

A run's reports usually come in consecutive batches of the same writer, so what a
batch would read (the runs it meets and which of its dedup keys are stored) is mostly
what this writer itself wrote a moment ago. The writer merges the batch with that
instead of reading: a run it does not remember is taken to be new, a key it does not
remember to be unstored. Nothing here has to be right: the write statement stores
nothing unless every run it updates still has the event count the merge started from
and every event it inserts is new (migration 0009), else it fails with 40001, and the
batch is then read and merged again (storage/writer/drivers.py). A wrong guess costs
a failed statement, never a wrong count.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

from ingest.report import Report
from ingest.run_record import RunRecord

# Runs remembered, least recently written dropped first (~3 KB each).
CAPACITY = 2048


class WrittenRuns:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        # run id -> (the run as stored, the dedup keys of its events known stored)
        self._runs: OrderedDict[str, tuple[RunRecord, set[str]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._runs)

    def lookup(
        self, reports: Iterable[Report], run_ids: Sequence[str]
    ) -> tuple[set[str], list[RunRecord]]:
        """What a read of the store would answer, as far as this writer knows: the
        stored dedup keys among the reports', and the stored runs among ``run_ids``."""
        runs = self._runs
        known = {
            report.dedup_key
            for report in reports
            if report.run_id in runs and report.dedup_key in runs[report.run_id][1]
        }
        return known, [runs[run_id][0] for run_id in run_ids if run_id in runs]

    def remember(self, reports: Iterable[Report], runs: Sequence[RunRecord]) -> None:
        """After a commit: ``runs`` as stored, and every report's key is stored."""
        for run in runs:
            entry = self._runs.pop(run["id"], None)
            self._runs[run["id"]] = (run, set() if entry is None else entry[1])
        for report in reports:
            entry = self._runs.get(report.run_id)
            if entry is not None:
                entry[1].add(report.dedup_key)
        while len(self._runs) > self._capacity:
            self._runs.popitem(last=False)

    def forget(self, reports: Iterable[Report]) -> None:
        """After a failed write: the batch's runs may have changed unseen."""
        for report in reports:
            self._runs.pop(report.run_id, None)
