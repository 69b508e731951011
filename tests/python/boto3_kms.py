#!/usr/bin/env python3
"""The lab's KMS steps and kms-svc's main bad inputs through boto3, for
tests/tests/integration/aws_boto3.rs: prints one JSON object of what boto3 saw
(return values, and for each error its exception class, code and message).

Configuration from the environment: AWS_ENDPOINT_URL_KMS, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION; the key policies as files named by
POLICY_WITH_USER and POLICY_WITHOUT_USER.
"""

import json
import os

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def error_of(call):
    """The exception class, code and message of a call that must fail."""
    try:
        call()
    except ClientError as error:
        return {
            "class": type(error).__name__,
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"]["Message"],
            "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    raise AssertionError("the call succeeded")


def main():
    kms = boto3.client("kms", config=Config(retries={"total_max_attempts": 1}))
    with open(os.environ["POLICY_WITH_USER"]) as f:
        with_user = f.read()
    with open(os.environ["POLICY_WITHOUT_USER"]) as f:
        without_user = f.read()
    seen = {}
    key = kms.create_key(Description="KMS Key for S3 data", Policy=with_user)["KeyMetadata"]
    seen["arn"] = key["Arn"]
    seen["creation_date_is_a_datetime"] = hasattr(key["CreationDate"], "tzinfo")
    kms.create_alias(AliasName="alias/myFirstKey", TargetKeyId=key["KeyId"])
    context = {"purpose": "lab"}
    ciphertext = kms.encrypt(
        KeyId="alias/myFirstKey", Plaintext=b"lab secret", EncryptionContext=context
    )["CiphertextBlob"]
    decrypted = kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext=context)
    seen["decrypted"] = decrypted["Plaintext"].decode()
    seen["wrong_context"] = error_of(
        lambda: kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext={"purpose": "x"})
    )
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=without_user)
    seen["revoked"] = error_of(
        lambda: kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext=context)
    )
    seen["missing_key"] = error_of(
        lambda: kms.describe_key(KeyId="1234abcd-12ab-34cd-56ef-1234567890ab")
    )
    seen["alias_taken"] = error_of(
        lambda: kms.create_alias(AliasName="alias/myFirstKey", TargetKeyId=key["KeyId"])
    )
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=with_user)
    kms.disable_key(KeyId=key["KeyId"])
    seen["disabled"] = error_of(
        lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    )
    seen["window_6"] = error_of(
        lambda: kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=6)
    )
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
