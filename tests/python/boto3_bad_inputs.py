#!/usr/bin/env python3
"""kms-svc's catalogue of bad inputs through boto3, for
tests/tests/integration/aws_boto3.rs: reads a JSON list of {"operation", "request"}
(AWS JSON member names, blobs in base64) on stdin and prints, for each, what boto3
raised: its exception class, code and message.

boto3's own parameter validation is off, so that each request reaches the service as
given, as a request from another SDK would. Configuration from the environment:
AWS_ENDPOINT_URL_KMS, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
"""

import base64
import json
import sys

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

BLOB_MEMBERS = {"Plaintext", "CiphertextBlob"}


def outcome(kms, case):
    params = {
        name: base64.b64decode(value) if name in BLOB_MEMBERS else value
        for name, value in case["request"].items()
    }
    try:
        getattr(kms, xform_name(case["operation"]))(**params)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        return {
            "class": type(error).__name__,
            "modelled": code in kms.exceptions._code_to_exception,
            "code": code,
            "message": error.response["Error"]["Message"],
        }
    return {"class": None, "modelled": False, "code": "succeeded", "message": ""}


def main():
    config = Config(parameter_validation=False, retries={"total_max_attempts": 1})
    kms = boto3.client("kms", config=config)
    cases = json.load(sys.stdin)
    json.dump([outcome(kms, case) for case in cases], sys.stdout)


if __name__ == "__main__":
    main()
