#!/usr/bin/env python3
"""The member names of AWS's own service models (the ones botocore ships, which the
AWS CLI and boto3 use) for tests/tests/integration/aws_models.rs: for each service
named on the command line, each operation's input and output as a tree
{member: subtree or null}; structures (and lists of them) have subtrees, everything
else (strings, numbers, blobs, timestamps, maps) is null."""

import json
import sys

import botocore.session


def tree(shape, depth=0):
    if shape.type_name == "list":
        return tree(shape.member, depth)
    if shape.type_name != "structure" or depth > 8:
        return None
    return {name: tree(member, depth + 1) for name, member in shape.members.items()}


def main():
    session = botocore.session.get_session()
    models = {}
    for service in sys.argv[1:]:
        model = session.get_service_model(service)
        operations = {}
        for name in model.operation_names:
            operation = model.operation_model(name)
            operations[name] = {
                "input": tree(operation.input_shape) if operation.input_shape else {},
                "output": tree(operation.output_shape) if operation.output_shape else {},
            }
        models[service] = operations
    json.dump(models, sys.stdout)


if __name__ == "__main__":
    main()
