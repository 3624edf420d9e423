"""The previous window of a filter, for ``compare`` fields (the Context reads its numbers)."""

from __future__ import annotations

from datetime import datetime

from graphql import GraphQLError

from schema.analytics import ComparePeriod, TimeWindow
from storage.analytics.filters import RunFilter


def previous_window(run_filter: RunFilter, period: ComparePeriod) -> TimeWindow:
    """PREVIOUS_PERIOD: the same length just before; PREVIOUS_YEAR: one calendar year
    earlier (29 February becomes the 28th)."""
    since, until = run_filter.since, run_filter.until
    if since is None or until is None:
        raise GraphQLError("compare needs filter.since and filter.until")
    if period is ComparePeriod.PREVIOUS_PERIOD:
        return TimeWindow(since=since - (until - since), until=since)
    return TimeWindow(since=_year_earlier(since), until=_year_earlier(until))


def _year_earlier(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)
