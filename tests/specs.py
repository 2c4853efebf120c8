"""The specs the suite shares, each written once.

The repository's examples are read from examples/, where `make run`'s demo
(workflows/demo.py) reads them too, so what the demo offers is what the suite
validates, compiles and runs. LISTING is the suite's own: small enough to
read in a failing test, with every kind of hand-over the pages show.

A test whose spec differs on purpose (a line number it checks, a key under
test) keeps that spec beside itself.
"""

from tests.paths import EXAMPLES

# Every spec in examples/ by file name; inputs.yaml is a run's inputs, not a spec.
EXAMPLE_SPECS = {
    path.name: path.read_text()
    for path in sorted(EXAMPLES.glob("*.yaml"))
    if "jobs:" in path.read_text()
}
HELLO = EXAMPLE_SPECS["hello.yaml"]
# Every input and output type, a secret, defaults and a fan-in; the demo's `word-count`.
PIPELINE = EXAMPLE_SPECS["pipeline.yaml"]
PIPELINE_INPUTS = (EXAMPLES / "inputs.yaml").read_text()

# A dataset and a string in, a dataset and a string handed from `prepare` to
# `report`, a secret. `report` comes first in the text but needs `prepare`, so
# the order of the jobs is the run's, not the text's. Needs a dataset "raw"
# with a version, a dataset "listings" and the secret "api-token".
LISTING = """\
inputs:
  raw:
    type: dataset
    with:
      ref: raw
  greeting:
    type: string
    with:
      value: hello
jobs:
  # The report reads what prepare wrote.
  report:
    needs: [prepare]
    inputs:
      listing: prepare.outputs.listing
      note: prepare.outputs.note
    uses: script@v1
    with:
      image: bash:5
      script: |-
        wc -l /inputs/listing/files.txt
  prepare:
    uses: container@v1
    with:
      image: bash:5
      args: ["bash", "-c", "ls /inputs/raw > /outputs/listing/files.txt"]
    inputs:
      raw: workflow.inputs.raw
    outputs:
      listing:
        type: dataset
        with:
          ref: listings
      note:
        type: string
    env:
      TOKEN: secret:api-token
"""
