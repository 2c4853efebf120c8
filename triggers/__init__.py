"""Git-linked projects: a repository's `.gradient/workflows/` specs start runs on pushes.

`client` runs git against a cached bare mirror per project; `services` links
repositories and turns a push (a GitHub webhook delivery or a poll that sees a
new commit) into runs and a PushTrigger record; `views` and `tasks` are thin.

An app above workflows/ and runs/: a push creates workflows and submits runs
through `runs.services.run_submit` as any other client does, so neither of
those needs to know that git exists.
"""
