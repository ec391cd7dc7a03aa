"""The read layer: every read model, computed from the database and never changing it.

* ``queue_state``: a centre's queue for the screens (waiting counts, estimates, positions,
  calls, counters, snapshots) and the public and staff views of a token.
* ``tracking``: what a citizen's tracking page shows.
* ``statistics``: the manager's live figures, the province view and reports.
* ``console``: what a clerk's console draws; ``requests``: the request lists and details.

GET requests, socket joins and the after-commit builders (``publish.publish_built``) read
through these; ``operations`` change state, and may read a model to decide (a token's
place when it is issued), never the other way round.
"""
