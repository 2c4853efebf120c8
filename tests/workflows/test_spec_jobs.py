"""Job rules: names, uses, with, needs, inputs, outputs, env, timeout, retries, action rules."""

import pytest


def job(body: str, *, name: str = "a", before: str = "") -> str:
    """A spec with one job called ``name`` whose lines are ``body`` (indented 4)."""
    lines = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return f"{before}jobs:\n  {name}:\n{lines}"


def test_job_name_rule(error_at):
    error = error_at(job("uses: container@v1\nwith: {image: x}", name="my job"), "jobs.my job")
    assert error.line == 2
    assert "' '" in error.message
    assert 'letters, digits, "-" and "_"' in error.message


def test_job_name_with_dash_and_underscore_is_fine(valid_spec):
    valid_spec(job("uses: container@v1\nwith: {image: x}", name="Fetch-data_2"))


def test_job_must_be_a_mapping(error_at):
    error_at("jobs:\n  a: container@v1\n", "jobs.a", line=2, message="must be a mapping")


def test_job_unknown_key_suggests(error_at):
    error = error_at(
        job("uses: container@v1\nwith: {image: x}\nneeds: []\nneds: [b]"), "jobs.a.neds"
    )
    assert error.line == 6
    assert error.hint == 'did you mean "needs"?'


def test_job_github_actions_key(error_at):
    error = error_at(
        job("uses: container@v1\nwith: {image: x}\nruns-on: ubuntu"), "jobs.a.runs-on", line=5
    )
    assert "instance-type" in error.message


def test_job_top_level_key_in_job(error_at):
    error_at(
        job("uses: container@v1\nwith: {image: x}\ndefaults: {}"),
        "jobs.a.defaults",
        line=5,
        message="top level",
    )


def test_uses_is_required(error_at):
    error_at(job("with: {image: x}"), "jobs.a.uses", line=2, message="needs `uses:`")


def test_uses_unknown_action(error_at):
    error = error_at(job("uses: contaner@v1"), "jobs.a.uses", line=3, message="unknown action")
    assert "container, script, git-checkout, s3-download or create-model" in error.message
    assert error.hint == 'did you mean "container"?'


def test_uses_unknown_version(error_at):
    error_at(
        job("uses: container@v2\nwith: {image: x}"),
        "jobs.a.uses",
        line=3,
        message="container@v2 does not exist; supported versions: container@v1",
    )


def test_uses_without_version(error_at):
    error_at(job("uses: container\nwith: {image: x}"), "jobs.a.uses", message="container@v1")


def test_uses_bad_format(error_at):
    error_at(job("uses: docker://bash"), "jobs.a.uses", message="NAME@vN")


def test_uses_must_be_a_string(error_at):
    error_at(job("uses: [container@v1]"), "jobs.a.uses", message="must be a string")


def test_missing_required_param_points_at_with(error_at):
    error = error_at(job("uses: script@v1\nwith:\n  image: bash:5"), "jobs.a.with.script")
    assert error.line == 4
    assert "needs `script`" in error.message


def test_missing_with_points_at_the_job(error_at):
    error_at(job("uses: container@v1"), "jobs.a.with.image", line=2, message="needs `image`")


def test_unknown_param_suggests(error_at):
    error = error_at(
        job("uses: container@v1\nwith:\n  image: x\n  arg: [a]"), "jobs.a.with.arg", line=6
    )
    assert error.hint == 'did you mean "args"?'


def test_args_item_must_be_a_string(error_at):
    error = error_at(
        job("uses: container@v1\nwith:\n  image: x\n  args:\n    - bash\n    - -c\n    - 1"),
        "jobs.a.with.args[2]",
        line=9,
    )
    assert error.message.startswith('jobs.a.with.args[2] must be a string; quote it, e.g. "1"')


def test_args_dash_item(error_at):
    error = error_at(
        job("uses: container@v1\nwith:\n  image: x\n  args:\n    - a\n    - -"),
        "jobs.a.with.args[1]",
        line=8,
    )
    assert 'quote it, e.g. "-"' in error.message


def test_args_must_be_a_list(error_at):
    error_at(
        job("uses: container@v1\nwith:\n  image: x\n  args: echo hi"),
        "jobs.a.with.args",
        message="must be a list of strings",
    )


def test_command_string_or_list(valid_spec, error_at):
    valid_spec(job("uses: container@v1\nwith: {image: x, command: sh}"))
    valid_spec(job("uses: container@v1\nwith: {image: x, command: [sh, -c]}"))
    error_at(job("uses: container@v1\nwith: {image: x, command: 5}"), "jobs.a.with.command")
    error_at(
        job("uses: container@v1\nwith: {image: x, command: [sh, 5]}"), "jobs.a.with.command[1]"
    )


def test_image_must_not_be_empty(error_at):
    error_at(job("uses: container@v1\nwith: {image: ''}"), "jobs.a.with.image", message="empty")


def test_with_must_be_a_mapping(error_at):
    error_at(job("uses: container@v1\nwith: [image]"), "jobs.a.with", message="must be a mapping")


GIT = "uses: git-checkout@v1\nwith:\n  url: https://example.com/r.git\n"


def test_git_checkout_password_must_be_a_secret(error_at, valid_spec):
    error_at(
        job(GIT + "  password: hunter2\noutputs: {repo: {type: volume}}"),
        "jobs.a.with.password",
        line=6,
        message="secret reference",
    )
    spec = valid_spec(
        job(GIT + "  username: me\n  password: secret:git-token\noutputs: {repo: {type: volume}}")
    )
    assert spec.job("a").secret_names == ("git-token",)


def test_git_checkout_needs_an_output(error_at, valid_spec):
    error_at(job(GIT), "jobs.a.outputs", line=2, message="volume or dataset output")
    valid_spec(job(GIT + "outputs: {repo: {type: dataset, with: {ref: code}}}"))


def test_git_checkout_several_outputs_need_a_path(error_at, valid_spec):
    outputs = "outputs: {repo: {type: volume}, docs: {type: volume}}"
    error = error_at(job(GIT + outputs), "jobs.a.with.path", line=4, message="set `path`")
    assert "repo or docs" in error.message
    valid_spec(job(GIT + "  path: docs/site\n" + outputs))


def test_git_checkout_path_must_name_an_output(error_at):
    error = error_at(
        job(GIT + "  path: elsewhere\noutputs: {repo: {type: volume}}"),
        "jobs.a.with.path",
        line=6,
    )
    assert "must start with the name" in error.message


def test_git_checkout_path_must_stay_under_outputs(error_at, valid_spec):
    error_at(
        job(GIT + "  path: ../etc\noutputs: {repo: {type: volume}}"),
        "jobs.a.with.path",
        message="relative path",
    )
    valid_spec(job(GIT + "  path: /outputs/repo/src\noutputs: {repo: {type: volume}}"))


S3 = "uses: s3-download@v1\nwith:\n  access-key: AKIA\n  secret-access-key: secret:aws\n"


def test_s3_download(valid_spec, error_at):
    spec = valid_spec(job(S3 + "  url: s3://bucket/prefix/\noutputs: {data: {type: volume}}"))
    assert spec.job("a").secret_names == ("aws",)
    error_at(
        job(S3 + "  url: https://bucket\noutputs: {data: {type: volume}}"),
        "jobs.a.with.url",
        line=7,
        message='must start with "s3://"',
    )
    error_at(
        job(
            "uses: s3-download@v1\nwith:\n  url: s3://b/\n  access-key: a\n"
            "  secret-access-key: plain\noutputs: {data: {type: volume}}"
        ),
        "jobs.a.with.secret-access-key",
        message="secret reference",
    )


def test_s3_access_key_may_be_a_secret(valid_spec):
    spec = valid_spec(
        job(
            "uses: s3-download@v1\nwith:\n  url: s3://b/\n  access-key: secret:aws-id\n"
            "  secret-access-key: secret:aws\noutputs: {data: {type: volume}}"
        )
    )
    assert spec.job("a").secret_names == ("aws", "aws-id")


MODEL_UPSTREAM = """\
jobs:
  train:
    uses: container@v1
    with: {image: x}
    outputs: {weights: {type: dataset, with: {ref: weights}}, note: {type: string}}
  register:
    uses: create-model@v1
    needs: [train]
"""


def test_create_model(valid_spec):
    spec = valid_spec(
        MODEL_UPSTREAM
        + "    with: {name: m, type: ONNX}\n"
        + "    inputs: {model: train.outputs.weights}\n"
        + "    outputs: {id: {type: string}}\n"
    )
    assert spec.job("register").inputs["model"].type == "dataset"


def test_create_model_type_choices(error_at):
    error = error_at(
        MODEL_UPSTREAM
        + "    with: {name: m, type: onnx}\n"
        + "    inputs: {model: train.outputs.weights}\n"
        + "    outputs: {id: {type: string}}\n",
        "jobs.register.with.type",
        line=9,
    )
    assert error.hint == 'did you mean "ONNX"?'


def test_create_model_needs_a_model_input(error_at):
    error_at(
        MODEL_UPSTREAM + "    with: {name: m}\n    outputs: {id: {type: string}}\n",
        "jobs.register.inputs.model",
        line=6,
        message='dataset input named "model"',
    )


def test_create_model_input_must_be_a_dataset(error_at):
    error_at(
        MODEL_UPSTREAM
        + "    with: {name: m}\n"
        + "    inputs: {model: train.outputs.note}\n"
        + "    outputs: {id: {type: string}}\n",
        "jobs.register.inputs.model",
        line=10,
        message="must be a dataset, not a string",
    )


def test_create_model_needs_one_string_output(error_at):
    error_at(
        MODEL_UPSTREAM + "    with: {name: m}\n    inputs: {model: train.outputs.weights}\n",
        "jobs.register.outputs",
        line=6,
        message="single string output",
    )


TWO = """\
inputs:
  data: {type: dataset, with: {ref: raw}}
jobs:
  prepare:
    uses: container@v1
    with: {image: x}
    outputs:
      listing: {type: dataset, with: {ref: listings}}
      note: {type: string}
      work: {type: volume}
  report:
    uses: container@v1
    with: {image: x}
"""


def test_needs_unknown_job_suggests(error_at):
    error = error_at(TWO + "    needs: [prepar]\n", "jobs.report.needs[0]", line=14)
    assert "no job called that" in error.message
    assert error.hint == 'did you mean "prepare"?'


def test_needs_string_says_to_use_a_list(error_at):
    error_at(TWO + "    needs: prepare\n", "jobs.report.needs", line=14, message="needs: [prepare]")


def test_needs_self(error_at):
    error_at(TWO + "    needs: [report]\n", "jobs.report.needs[0]", line=14, message="itself")


def test_needs_duplicate(error_at):
    error_at(
        TWO + "    needs: [prepare, prepare]\n",
        "jobs.report.needs[1]",
        line=14,
        message="already in",
    )


def test_needs_items_must_be_strings(error_at):
    error_at(TWO + "    needs: [5]\n", "jobs.report.needs[0]", message="must be a string")


def test_unknown_need_is_not_also_reported_as_missing_upstream(spec_errors):
    errors = spec_errors(TWO + "    needs: [prepar]\n    inputs: {l: prepare.outputs.listing}\n")
    assert [e.path for e in errors] == ["jobs.report.needs[0]"]


def test_inputs_three_forms(valid_spec):
    spec = valid_spec(
        TWO
        + "    needs: [prepare]\n"
        + "    inputs:\n"
        + "      data: workflow.inputs.data\n"
        + "      listing: prepare.outputs.listing\n"
        + "      extra: {type: dataset, with: {id: other:2}}\n"
        + "      word: {type: string, with: {value: hi}}\n"
        + "      scratch: {type: volume}\n"
    )
    inputs = spec.job("report").inputs
    assert {name: i.type for name, i in inputs.items()} == {
        "data": "dataset",
        "listing": "dataset",
        "extra": "dataset",
        "word": "string",
        "scratch": "volume",
    }
    assert inputs["extra"].source.with_ == {"ref": "other:2"}


def test_input_unknown_workflow_input(error_at):
    error = error_at(
        TWO + "    inputs: {d: workflow.inputs.dat}\n", "jobs.report.inputs.d", line=14
    )
    assert error.hint == 'did you mean "data"?'


def test_input_from_job_not_in_needs(error_at):
    error = error_at(
        TWO + "    inputs: {l: prepare.outputs.listing}\n",
        "jobs.report.inputs.l",
        line=14,
        message="add prepare to needs",
    )
    assert error.hint == "needs: [prepare]"


def test_input_from_job_through_another_job(valid_spec):
    valid_spec(
        TWO
        + "    needs: [middle]\n"
        + "    inputs: {l: prepare.outputs.listing}\n"
        + "  middle:\n"
        + "    uses: container@v1\n"
        + "    with: {image: x}\n"
        + "    needs: [prepare]\n"
    )


def test_input_from_unknown_job(error_at):
    error = error_at(
        TWO + "    inputs: {l: prepar.outputs.listing}\n", "jobs.report.inputs.l", line=14
    )
    assert error.hint == 'did you mean "prepare"?'


def test_input_from_unknown_output(error_at):
    error = error_at(
        TWO + "    needs: [prepare]\n    inputs: {l: prepare.outputs.listin}\n",
        "jobs.report.inputs.l",
        line=15,
        message='no output "listin"',
    )
    assert error.hint == 'did you mean "listing"?'


def test_input_from_own_output(error_at):
    error_at(
        TWO + "    inputs: {l: report.outputs.x}\n    outputs: {x: {type: string}}\n",
        "jobs.report.inputs.l",
        message="its own output",
    )


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("inputs.data", 'did you mean "workflow.inputs.data"?'),
        ("prepare.output.listing", 'did you mean "prepare.outputs.listing"?'),
        ("5", None),
        ("[a]", None),
    ],
)
def test_input_bad_forms(error_at, value, hint):
    error = error_at(
        TWO + f"    inputs: {{d: {value}}}\n",
        "jobs.report.inputs.d",
        line=14,
        message="workflow.inputs.NAME, JOB.outputs.NAME or an inline",
    )
    assert error.hint == hint


def test_inline_input_needs_a_type(error_at):
    error_at(
        TWO + "    inputs:\n      d: {with: {ref: x}}\n",
        "jobs.report.inputs.d.type",
        line=15,
        message="needs `type:`",
    )


def test_inline_dataset_input_needs_with(error_at):
    error_at(
        TWO + "    inputs:\n      d: {type: dataset}\n",
        "jobs.report.inputs.d.with",
        line=15,
        message="with: {ref: NAME}",
    )


def test_input_name_rule(error_at):
    error_at(TWO + "    inputs:\n      'a/b': workflow.inputs.data\n", "jobs.report.inputs.a/b")


def test_output_needs_a_type(error_at):
    error_at(
        TWO + "    outputs:\n      x: {with: {ref: a}}\n",
        "jobs.report.outputs.x.type",
        line=15,
        message="needs `type:`",
    )


def test_output_type_must_be_known(error_at):
    error_at(
        TWO + "    outputs:\n      x: {type: file}\n",
        "jobs.report.outputs.x.type",
        line=15,
        message="dataset, string or volume",
    )


def test_dataset_output_needs_ref(error_at):
    error_at(
        TWO + "    outputs:\n      x: {type: dataset}\n",
        "jobs.report.outputs.x.with",
        line=15,
        message="with: {ref: NAME}",
    )


def test_dataset_output_id_synonym(valid_spec):
    spec = valid_spec(TWO + "    outputs:\n      x: {type: dataset, with: {id: results}}\n")
    assert spec.job("report").outputs["x"].with_ == {"ref": "results"}


def test_dataset_output_ref_without_version(error_at):
    error_at(
        TWO + "    outputs:\n      x: {type: dataset, with: {ref: 'results:3'}}\n",
        "jobs.report.outputs.x.with.ref",
        message="write ref: results",
    )


def test_string_output_takes_no_with(error_at, valid_spec):
    error_at(
        TWO + "    outputs:\n      x: {type: string, with: {value: a}}\n",
        "jobs.report.outputs.x.with",
        line=15,
        message="takes no `with`",
    )
    valid_spec(TWO + "    outputs:\n      x: {type: string, with: {}}\n")


def test_an_input_and_an_output_may_share_a_name(valid_spec):
    # Gradient accepted it: inputs live at /inputs/NAME and outputs at /outputs/NAME.
    spec = valid_spec(
        TWO + "    inputs: {my-string: workflow.inputs.data}\n"
        "    outputs: {my-string: {type: string}}\n"
    )
    report = spec.job("report")
    assert report.inputs["my-string"].type == "dataset"
    assert report.outputs["my-string"].type == "string"


def test_output_name_rule(error_at):
    error_at(TWO + "    outputs:\n      'x y': {type: string}\n", "jobs.report.outputs.x y")


def test_outputs_must_be_a_mapping(error_at):
    error_at(TWO + "    outputs: [x]\n", "jobs.report.outputs", message="must be a mapping")


def test_job_env_number(error_at):
    error = error_at(TWO + "    env:\n      RETRIES: 50\n", "jobs.report.env.RETRIES", line=15)
    assert "quote it: RETRIES: '50'" in error.message


def test_job_resources(valid_spec, error_at):
    spec = valid_spec(TWO + "    resources: {instance-type: P4000}\n")
    assert spec.job("report").resources.instance_type == "P4000"
    error_at(TWO + "    resources: C4\n", "jobs.report.resources", message="must be a mapping")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("7d", 604800)],
)
def test_timeout(valid_spec, value, seconds):
    spec = valid_spec(TWO + f"    timeout: {value}\n")
    assert spec.job("report").timeout_seconds == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("30", "needs a unit: write 30s for seconds or 30m for minutes"),
        ("0s", "longer than 0s"),
        ("8d", "at most 7d"),
        ("soon", "is not a duration"),
        ("30 minutes", "is not a duration"),
        ("true", "must be a duration"),
    ],
)
def test_bad_timeout(error_at, value, message):
    error_at(TWO + f"    timeout: {value}\n", "jobs.report.timeout", line=14, message=message)


def test_retries(valid_spec):
    assert valid_spec(TWO + "    retries: 3\n").job("report").retries == 3
    assert valid_spec(TWO).job("report").retries == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("true", "not the boolean true"),
        ("11", "from 0 to 10"),
        ("-1", "from 0 to 10"),
        ("'3'", "without quotes"),
        ("1.5", "whole number"),
    ],
)
def test_bad_retries(error_at, value, message):
    error_at(TWO + f"    retries: {value}\n", "jobs.report.retries", line=14, message=message)
