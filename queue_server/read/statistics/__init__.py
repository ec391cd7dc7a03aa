"""Figures for the manager's live view, the province view and the reports.

Sources. The tokens table is the event log's projection: every operation changes a token
and appends its event in one transaction, so a token's ``issued_at``, ``first_called_at``,
``started_at``, ``finished_at``, state and counter are the times and places of its events.
Which clerk called a token is only in the event log (the actor of ``token_called``), and is
read from there. Requests and citizen feedback come from their own tables.

Definitions (the same everywhere: live view, reports, CSV, the printed daily report):
- arrivals: tokens issued, counted for the service they were issued for and the local hour
  of issue; wait: from issue to the first call; only citizens who were called have one.
- within target: called within the service's target wait (share of those called).
- no-show rate: no-shows among the citizens called.
- service time: from start to completion of a served token.
- p90 wait: nearest rank (the smallest wait that 90 % of waits do not exceed).
- wait estimate error: |promised wait at issue - real wait|, over called tokens that got
  a promise.

Speed. Live figures read one day of one centre (index ``ix_tokens_centre_day``). Reports
read ``daily_stats``: rows per (day, service, hour, counter, clerk), written for a day once
no token of it is open (at end of day, or the first time a report needs it), and trusted
while the day's token counts per state are still those it was built from. So neither
grows with history: a month is 30 days of rows, whatever lies before it.

The package: ``figures`` (pure), ``sources`` (queries), ``live`` (the live view),
``province`` (the province view), ``reports`` (ranges of days), ``stored`` (settling days
into ``daily_stats``, the one writer)."""

from queue_server.read.statistics.figures import (
    DIMS,
    WAIT_BUCKETS,
    Extra,
    GrainTallies,
    Tally,
    TokenFact,
    extra_figures,
    extras,
    group,
    mean_of,
    percentile,
    ratio,
    tally_facts,
    wait_distribution,
)
from queue_server.read.statistics.live import (
    alert_public,
    live_centre,
)
from queue_server.read.statistics.province import (
    province,
)
from queue_server.read.statistics.reports import (
    grain_tallies,
    report,
)
from queue_server.read.statistics.sources import (
    CALL_KINDS,
    OPEN_STATE_VALUES,
    OUT_OF_ORDER_KINDS,
    PRINTER_WARNINGS,
    SCREEN_OFFLINE_SECONDS,
    among,
    as_utc,
    callers,
    day_bounds,
    day_states,
    device_status,
    estimate_errors,
    feedback_figures,
    is_settled,
    last_activity,
    open_alerts,
    out_of_order,
    out_of_order_kind,
    range_tokens,
    reason_of,
    requests_figures,
    service_targets,
    staff_id_of,
    staff_names,
    token_facts,
)
from queue_server.states import PRINTER_FAULTS

__all__ = [
    "CALL_KINDS",
    "DIMS",
    "OPEN_STATE_VALUES",
    "OUT_OF_ORDER_KINDS",
    "PRINTER_FAULTS",
    "PRINTER_WARNINGS",
    "SCREEN_OFFLINE_SECONDS",
    "WAIT_BUCKETS",
    "Extra",
    "GrainTallies",
    "Tally",
    "TokenFact",
    "alert_public",
    "among",
    "as_utc",
    "callers",
    "day_bounds",
    "day_states",
    "device_status",
    "estimate_errors",
    "extra_figures",
    "extras",
    "feedback_figures",
    "grain_tallies",
    "group",
    "is_settled",
    "last_activity",
    "live_centre",
    "mean_of",
    "open_alerts",
    "out_of_order",
    "out_of_order_kind",
    "percentile",
    "province",
    "range_tokens",
    "ratio",
    "reason_of",
    "report",
    "requests_figures",
    "service_targets",
    "staff_id_of",
    "staff_names",
    "tally_facts",
    "token_facts",
    "wait_distribution",
]
