"""errors_at: problems found after validation, placed in the spec's text."""

from workflows.spec import errors_at

SPEC = """\
defaults:
  env:
    TOKEN: secret:api-token
jobs:
  train:
    uses: container@v1
    with: {image: x}
    outputs:
      model: {type: dataset, with: {ref: models}}
"""


def test_errors_at_value_key_and_missing():
    errors = errors_at(
        SPEC,
        [
            (("jobs", "train", "outputs", "model", "with", "ref"), "no dataset models", None),
            (("defaults", "env", "TOKEN"), 'the secret "api-token" is not set', "set it"),
            (("jobs", "train", "timeout"), "missing timeout", None, "parent"),
            (("jobs", "train"), "the job", None, "key"),
        ],
    )
    assert [(e.path, e.line, e.column) for e in errors] == [
        ("defaults.env.TOKEN", 3, 12),
        ("jobs.train", 5, 3),
        ("jobs.train.timeout", 5, 3),
        ("jobs.train.outputs.model.with.ref", 9, 42),
    ]
    assert errors[0].hint == "set it"


def test_errors_at_unknown_path_points_at_the_nearest_key():
    [error] = errors_at(SPEC, [(("jobs", "train", "env", "X"), "gone", None)])
    assert (error.line, error.column) == (5, 3)


def test_errors_at_unreadable_text():
    [error] = errors_at("jobs: [", [(("jobs",), "x", None)])
    assert (error.line, error.column) == (1, 1)
