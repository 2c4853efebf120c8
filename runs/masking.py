"""Secret values masked across a run: in every job's log and wherever a string output is shown.

A job's log used to mask only the secrets that job received, so a secret that
one job wrote to a string output showed in clear in the log of the job that
read it, and in the status document. Masks are now run-wide: every secret the
run's spec names (defaults, env, `with`) is resolved for the run's project and
cluster, and its value is masked in every job's log, on both engines.

A string output that holds a secret value keeps the real value under `value`
(the consumer job receives it, and a re-run of failed jobs passes it on) and
gains `shown`, the value with the secrets masked, when it is stored. Every
surface that shows outputs (the status document, hence the REST API, the
/gradient surface and the websocket; the dashboard's job panel and run
comparison) shows them through `outputs_shown` or `StringOutput.shown_value`,
never `value` directly. Masking when the value is stored uses the secret values of
that moment, so changing a secret later does not unmask an older run.
"""

from __future__ import annotations

import re

from runs.logs import MASK, secret_mask
from runs.models import Run
from runs.specs import spec_model
from runs.values import Output, StringOutput, outputs_from_json
from workflows.secret_values import SecretUnreadable, decrypt_value
from workflows.selectors import secrets_resolve


def run_secret_values(run: Run) -> list[str]:
    """The value of every secret the run's spec names, as resolved for the run now.

    A secret that cannot be decrypted was given to no job, so it has nothing
    to mask and is left out rather than failing the job that asks.
    """
    names = spec_model(run).secret_names
    if not names:
        return []
    values = []
    for secret in secrets_resolve(
        project=run.workflow.project, cluster=run.cluster, names=names
    ).values():
        try:
            values.append(decrypt_value(secret.ciphertext))
        except SecretUnreadable:
            continue
    return values


def run_secret_mask(run: Run) -> re.Pattern | None:
    """The pattern of the run's secret values (None when it has none), as the logs use it."""
    return secret_mask(run_secret_values(run))


def outputs_masked(outputs: dict[str, Output], mask: re.Pattern | None) -> dict[str, Output]:
    """The job's outputs as stored: each string value holding a secret gains a masked `shown`."""
    if mask is None:
        return outputs
    return {
        name: output.masked(mask, MASK) if isinstance(output, StringOutput) else output
        for name, output in outputs.items()
    }


def outputs_shown(outputs: dict | None) -> dict | None:
    """A job's stored outputs as the status document shows them: masked text as `value`."""
    if not outputs:
        return outputs
    shown = {}
    for name, output in outputs_from_json(outputs).items():
        if isinstance(output, StringOutput):
            output = StringOutput(output.shown_value)
        shown[name] = output.to_json()
    return shown
