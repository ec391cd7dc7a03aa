"""A centre node that works offline and pushes its hash-chained events to the province.

``province``: receiving and verifying a node's batches (operations, no commit).
``node``: the node's push client and its background loop.
``views``: the province's HTTP endpoints under ``/sync/v1``.
"""
