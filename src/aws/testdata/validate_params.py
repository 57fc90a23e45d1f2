#!/usr/bin/env python3
"""Checks request bodies against botocore's service models with botocore's ParamValidator.

Reads JSON lines from stdin: {"service": "gamelift"|"sqs", "operation": "DescribeAlias",
"params": {...}} and writes one line per request: "OK" or "INVALID <report on one line>".
Timestamps arrive as epoch-second numbers, as on the wire; botocore's validator accepts them.
"""
import json
import sys

import botocore.session
from botocore.validate import ParamValidator


def main():
    session = botocore.session.get_session()
    models = {}
    validator = ParamValidator()
    for line in sys.stdin:
        if not line.strip():
            continue
        d = json.loads(line)
        model = models.get(d["service"])
        if model is None:
            model = models[d["service"]] = session.get_service_model(d["service"])
        try:
            op = model.operation_model(d["operation"])
        except Exception as e:  # unknown operation
            print("INVALID unknown operation %s: %s" % (d["operation"], e), flush=True)
            continue
        report = validator.validate(d["params"], op.input_shape)
        if report.has_errors():
            print("INVALID " + report.generate_report().replace("\n", " | "), flush=True)
        else:
            print("OK", flush=True)


if __name__ == "__main__":
    main()
