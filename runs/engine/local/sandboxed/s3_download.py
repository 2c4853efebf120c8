"""s3-download@v1 inside the job's sandbox: copy s3://BUCKET/PREFIX into a folder.

Run by the worker's Python with only this file, the worker's site-packages
(for boto3) and the job's output folder bound in, so the download goes
through the job's network (off, or without the host's loopback) and writes
only where the job may. Credentials arrive in AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, the endpoint and region in S3_ENDPOINT and S3_REGION.

usage: python s3_download.py BUCKET PREFIX TARGET
"""

import os
import sys

sys.path.insert(0, "/gradient/site-packages")

import boto3  # noqa: E402 (after the path to the worker's packages)
from botocore.config import Config  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402


def download(bucket: str, prefix: str, target: str) -> int:
    client = boto3.client(
        "s3",
        endpoint_url=os.environ.get("S3_ENDPOINT") or None,
        region_name=os.environ.get("S3_REGION") or None,
        config=Config(retries={"max_attempts": 3}),
    )
    root = os.path.realpath(target)
    count = size = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :].lstrip("/")
            if not relative or relative.endswith("/"):
                continue
            destination = os.path.realpath(os.path.join(root, relative))
            if not destination.startswith(root + os.sep):
                print(f's3-download@v1: the object key "{item["Key"]}" would leave the output')
                return 1
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            client.download_file(bucket, item["Key"], destination)
            count += 1
            size += item["Size"]
            print(f"downloaded s3://{bucket}/{item['Key']} ({item['Size']} bytes)", flush=True)
    print(f"downloaded {count} objects, {size} bytes, from s3://{bucket}/{prefix}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(download(*sys.argv[1:4]))
    except (BotoCoreError, ClientError) as error:
        print(f"s3-download@v1: {error}")
        sys.exit(1)
