"""The Argo Workflows engine: compile a spec to a Workflow, submit it, watch it, read its logs.

compiler.py and status.py are pure (no Django); engine.py submits and
cancels; watcher.py, reconcile.py and logs.py apply what Argo reports.
"""
