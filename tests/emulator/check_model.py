"""Checks captured raw JSON replies against the botocore model (used by test_js_sdk.mjs).

Usage: python3 check_model.py REPLIES.jsonl  — one {"service","operation","body"} per line;
prints each problem and exits 1 when there is one.
"""
import json
import os
import sys

import botocore.session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_boto3 import check_shape  # noqa: E402


def main(path):
    session = botocore.session.get_session()
    models = {}
    problems, checked = [], 0
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            model = models.setdefault(r["service"], session.get_service_model(r["service"]))
            op = model.operation_model(r["operation"])
            if op.output_shape is not None:
                check_shape(op.output_shape, json.loads(r["body"] or "{}"), op.name, problems)
            checked += 1
    for p in problems:
        print(p)
    print("checked", checked, "replies")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
