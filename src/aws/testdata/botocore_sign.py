#!/usr/bin/env python3
"""Signs requests with botocore's own SigV4Auth, for sigv4_botocore_test.cc.

Reads JSON lines from stdin, one request each:
  {"method", "url", "headers": [[name, value], ...], "body", "region", "service",
   "access_key", "secret_key", "token", "amz_date": "20261125T030000Z"}
and writes one JSON line per request: {"authorization", "x_amz_date", "token"}.
"""
import datetime
import json
import sys

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        d = json.loads(line)
        when = datetime.datetime.strptime(d["amz_date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
        botocore.auth.get_current_datetime = lambda *a, **k: when
        req = AWSRequest(method=d["method"], url=d["url"], data=d["body"].encode("utf-8"))
        for name, value in d["headers"]:
            req.headers[name] = value
        creds = Credentials(d["access_key"], d["secret_key"], d["token"] or None)
        SigV4Auth(creds, d["service"], d["region"]).add_auth(req)
        print(json.dumps({
            "authorization": req.headers["Authorization"],
            "x_amz_date": req.headers["X-Amz-Date"],
            "token": req.headers.get("X-Amz-Security-Token") or "",
        }), flush=True)


if __name__ == "__main__":
    main()
