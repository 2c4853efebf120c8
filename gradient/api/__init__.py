"""REST API plumbing every app shares: parsers, renderers, pagination, 404s, schema helpers.

The lowest layer: it knows nothing of teams or the access policy
(workflows.api.permissions adds that to the views of the apps above).
"""
