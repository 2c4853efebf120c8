"""create-model@v1 inside the job's sandbox: describe the model folder for the worker.

Reads /inputs/model (the job's dataset input) and writes what it found to
/workspace/model.json: {"files": N, "bytes": B}. The worker registers the
model only after checking that summary; it never reads the job's files itself.
Standard library only, run with `python -I`.
"""

import json
import os
import sys

MODEL = "/inputs/model"


def main() -> int:
    files = size = 0
    for folder, _, names in os.walk(MODEL):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and not os.path.islink(path):
                files += 1
                size += os.path.getsize(path)
    if files == 0:
        print("create-model@v1: the dataset input `model` holds no files")
        return 1
    with open("/workspace/model.json", "w") as summary:
        json.dump({"files": files, "bytes": size}, summary)
    print(f"model folder: {files} files, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
