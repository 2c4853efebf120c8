"""Run's queryset: what lists and pages read of each run."""

import pytest

from runs.models import Run
from runs.selectors import run_summary
from tests.factories import RunFactory

NOT_SHOWN = {"inputs", "resolved_inputs", "engine_state", "message"}


@pytest.mark.django_db
def test_a_summary_reads_no_column_it_does_not_show(workflow, django_assert_num_queries):
    first = RunFactory(workflow=workflow, number=1, engine_state={"name": "gw-1-x"})
    RunFactory(workflow=workflow, number=2, rerun_of=first, message="a long error")

    run = Run.objects.summary().get(number=2)

    assert run.get_deferred_fields() == NOT_SHOWN
    assert run.rerun_of.get_deferred_fields() == NOT_SHOWN
    with django_assert_num_queries(0):
        assert run_summary(run)["rerunOf"] == 1


@pytest.mark.django_db
def test_a_page_reads_the_run_whole_and_of_the_run_it_reruns_only_the_summary(workflow):
    first = RunFactory(workflow=workflow, number=1)
    RunFactory(workflow=workflow, number=2, rerun_of=first, resolved_inputs={"workflow": {}})

    run = Run.objects.with_rerun_number().get(number=2)

    assert run.get_deferred_fields() == set()
    assert run.rerun_of.get_deferred_fields() == NOT_SHOWN
