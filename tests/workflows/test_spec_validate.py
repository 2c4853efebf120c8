"""Document-level rules: top-level keys, defaults, workflow inputs, triggers."""

import pytest

from workflows.spec import parse_spec

HELLO = """\
jobs:
  hello:
    uses: container@v1
    with:
      image: bash:5
"""


def with_hello(text: str) -> str:
    return text + HELLO


def test_minimal_spec_is_valid(valid_spec):
    spec = valid_spec(HELLO)
    assert spec.job_names == ("hello",)


def test_jobs_is_required(error_at):
    error = error_at("defaults: {clusterId: c}\n", "jobs", line=1, message="`jobs:` mapping")
    assert error.column == 1


def test_jobs_must_be_a_mapping(error_at):
    error_at("jobs: [a, b]\n", "jobs", line=1, message="must be a mapping, not a list")


def test_jobs_must_not_be_empty(error_at):
    error_at("jobs: {}\n", "jobs", line=1, message="add at least one job")


def test_root_must_be_a_mapping(error_at):
    error_at("just text\n", "", line=1, message="must be a mapping")


def test_unknown_top_level_key_suggests_a_near_miss(error_at):
    error = error_at(with_hello("defualts: {}\n"), "defualts", line=1, message="unknown key")
    assert error.hint == 'did you mean "defaults"?'


@pytest.mark.parametrize(
    ("key", "advice"),
    [
        ("name", "gradient workflows create --name"),
        ("steps", "needs"),
        ("runs-on", "instance-type"),
        ("if", "needs"),
        ("env", "defaults.env"),
        ("permissions", "no equivalent"),
        ("concurrency", "no equivalent"),
        ("strategy", "one job per variant"),
        ("services", "not supported"),
        ("container", "container@v1"),
        ("timeout-minutes", "timeout: 30m"),
        ("continue-on-error", "retries"),
        ("run", "script@v1"),
    ],
)
def test_github_actions_keys_get_advice(error_at, key, advice):
    error = error_at(with_hello(f"{key}: x\n"), key, line=1, message="GitHub Actions key")
    assert advice in error.message


def test_job_key_at_top_level_says_where_it_belongs(error_at):
    error_at(with_hello("uses: container@v1\n"), "uses", line=1, message="is a job key")


def test_defaults_are_checked(error_at):
    error = error_at(
        with_hello("defaults:\n  clusterID: x\n"), "defaults.clusterID", line=2, message="unknown"
    )
    assert error.hint == 'did you mean "clusterId"?'


def test_defaults_cluster_id_must_be_a_string(error_at):
    error_at(with_hello("defaults:\n  clusterId: 5\n"), "defaults.clusterId", line=2)


def test_defaults_must_be_a_mapping(error_at):
    error_at(with_hello("defaults: [x]\n"), "defaults", line=1, message="must be a mapping")


def test_defaults_env_and_resources(valid_spec):
    spec = valid_spec(
        with_hello(
            "defaults:\n"
            "  clusterId: local\n"
            "  env: {MODE: fast}\n"
            "  resources: {instance-type: C4, container-registries: [mine]}\n"
        )
    )
    assert spec.defaults.cluster_id == "local"
    assert spec.defaults.env == {"MODE": "fast"}
    assert spec.defaults.resources.instance_type == "C4"
    assert spec.defaults.resources.container_registries == ("mine",)


def test_env_number_says_how_to_quote(error_at):
    error = error_at(
        with_hello("defaults:\n  env:\n    RETRIES: 50\n"), "defaults.env.RETRIES", line=3
    )
    assert "env value for \"RETRIES\" must be a string; quote it: RETRIES: '50'" in error.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", "RETRIES: 'true'"), ("1.5", "RETRIES: '1.5'"), ("[a]", "not a list")],
)
def test_env_non_strings(error_at, value, expected):
    error = error_at(
        with_hello(f"defaults:\n  env:\n    RETRIES: {value}\n"), "defaults.env.RETRIES", line=3
    )
    assert expected in error.message


def test_env_empty_value(error_at):
    error = error_at(with_hello("defaults:\n  env:\n    X:\n"), "defaults.env.X", line=3)
    assert "X: ''" in error.message


def test_env_name_must_be_a_variable_name(error_at):
    error_at(
        with_hello("defaults:\n  env:\n    1BAD: x\n"),
        "defaults.env.1BAD",
        line=3,
        message="not valid",
    )


def test_env_secret_reference_needs_a_name(error_at):
    error_at(
        with_hello("defaults:\n  env:\n    TOKEN: 'secret:'\n"),
        "defaults.env.TOKEN",
        line=3,
        message="needs the name of a secret",
    )


def test_env_secret_name_must_be_sensible(error_at):
    error_at(
        with_hello("defaults:\n  env:\n    TOKEN: 'secret:a b'\n"),
        "defaults.env.TOKEN",
        line=3,
        message="not a valid secret name",
    )


def test_resources_registries_must_be_a_list(error_at):
    error_at(
        with_hello("defaults:\n  resources:\n    container-registries: mine\n"),
        "defaults.resources.container-registries",
        line=3,
        message="container-registries: [mine]",
    )


def test_resources_unknown_key(error_at):
    error = error_at(
        with_hello("defaults:\n  resources:\n    instance_type: C4\n"),
        "defaults.resources.instance_type",
        line=3,
    )
    assert error.hint == 'did you mean "instance-type"?'


def test_resources_instance_type_must_be_a_string(error_at):
    error_at(
        with_hello("defaults:\n  resources:\n    instance-type: 4\n"),
        "defaults.resources.instance-type",
        line=3,
        message="must be a string",
    )


def test_workflow_inputs(valid_spec):
    spec = valid_spec(
        with_hello(
            "inputs:\n"
            "  data: {type: dataset, with: {id: raw}}\n"
            "  pinned: {type: dataset, with: {ref: team/raw:3}}\n"
            "  echo: {type: string, with: {value: hi}}\n"
            "  required: {type: string}\n"
            "  scratch: {type: volume}\n"
        )
    )
    assert spec.inputs["data"].default == {"ref": "raw"}
    assert spec.inputs["pinned"].default == {"ref": "team/raw:3"}
    assert spec.inputs["echo"].default == {"value": "hi"}
    assert spec.inputs["required"].default is None
    assert spec.inputs["scratch"].default == {}


def test_workflow_input_needs_a_type(error_at):
    error_at(with_hello("inputs:\n  data:\n    with: {ref: x}\n"), "inputs.data.type", line=2)


def test_workflow_input_type_must_be_known(error_at):
    error = error_at(with_hello("inputs:\n  data: {type: datset}\n"), "inputs.data.type", line=2)
    assert error.hint == 'did you mean "dataset"?'


def test_workflow_input_string_value_must_be_a_string(error_at):
    error_at(
        with_hello("inputs:\n  top:\n    type: string\n    with:\n      value: 5\n"),
        "inputs.top.with.value",
        line=5,
        message='quote it, e.g. "5"',
    )


def test_workflow_input_dataset_needs_a_ref(error_at):
    error_at(
        with_hello("inputs:\n  data:\n    type: dataset\n    with: {name: x}\n"),
        "inputs.data.with.ref",
        line=4,
        message="ref: NAME",
    )


def test_workflow_input_dataset_ref_and_id_together(error_at):
    error_at(
        with_hello("inputs:\n  data:\n    type: dataset\n    with: {ref: a, id: b}\n"),
        "inputs.data.with.id",
        line=4,
        message="either ref or id",
    )


def test_workflow_input_bad_dataset_ref(error_at):
    error_at(
        with_hello("inputs:\n  data:\n    type: dataset\n    with: {ref: 'a b'}\n"),
        "inputs.data.with.ref",
        line=4,
        message="not a dataset reference",
    )


def test_workflow_input_name_rule(error_at):
    error_at(with_hello("inputs:\n  my.data: {type: string}\n"), "inputs.my.data", line=2)


def test_workflow_input_unknown_key(error_at):
    error = error_at(
        with_hello("inputs:\n  a:\n    type: string\n    default: x\n"), "inputs.a.default", line=4
    )
    assert "allowed keys are type or with" in error.message


def test_on_trigger(valid_spec):
    spec = valid_spec(with_hello("on:\n  github:\n    branches:\n      only: main\n"))
    assert spec.on is not None
    assert spec.on.branches == ("main",)
    spec = valid_spec(with_hello("on: {github: {branches: {only: [main, dev]}}}\n"))
    assert spec.on.branches == ("main", "dev")
    assert valid_spec(HELLO).on is None


def test_on_needs_github(error_at):
    error_at(with_hello("on: {}\n"), "on.github", line=1, message="needs `github:`")


def test_on_push_is_github_actions(error_at):
    error = error_at(with_hello("on:\n  push: {}\n"), "on.push", line=2, message="GitHub Actions")
    assert "branches" in error.message


def test_on_branches_only_empty_list(error_at):
    error_at(
        with_hello("on: {github: {branches: {only: []}}}\n"),
        "on.github.branches.only",
        line=1,
        message="non-empty list",
    )


def test_on_branches_must_be_a_mapping(error_at):
    error_at(
        with_hello("on: {github: {branches: [main]}}\n"),
        "on.github.branches",
        line=1,
        message="must be a mapping",
    )


def test_on_branch_items_must_be_strings(error_at):
    error_at(
        with_hello("on: {github: {branches: {only: [main, 5]}}}\n"),
        "on.github.branches.only[1]",
        line=1,
    )


def test_all_errors_are_reported_sorted():
    result = parse_spec(
        "name: x\n"
        "jobs:\n"
        "  a:\n"
        "    uses: container@v1\n"
        "    with: {image: x, args: [1, 2]}\n"
        "    env: {N: 5}\n"
    )
    assert [(e.line, e.path) for e in result.errors] == [
        (1, "name"),
        (5, "jobs.a.with.args[0]"),
        (5, "jobs.a.with.args[1]"),
        (6, "jobs.a.env.N"),
    ]
    assert all(e.column >= 1 for e in result.errors)


def test_data_is_returned_for_invalid_specs():
    result = parse_spec("name: x\njobs: {}\n")
    assert result.data == {"name": "x", "jobs": {}}
    assert not result.valid
