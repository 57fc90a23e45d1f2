"""Starts the glfm emulator binary on 127.0.0.1 port 0 and reads the URL it prints.

Shared by the client tests in this folder (run by ctest with the binary as argv[1]). Works
under the machine's python3 (boto3 1.43) and Debian's /usr/bin/python3 (boto3 1.26).
"""
import json
import os
import subprocess
import tempfile
import urllib.request

# Delays 0: transitions happen as soon as the emulator's timer thread sees them; tests wait
# on observable state (long polls woken by arrivals), never on sleeps.
FAST_WORLD = """
timings: {placement_delay_ms: 0, activation_delay_ms: 0, player_accept_delay_ms: -1}
fleets:
  - id: fleet-local
    locations:
      - {name: us-east-1, capacity: 300, ip_prefix: 10.0.1, dns_suffix: us-east-1.compute.local}
      - {name: eu-west-1, capacity: 300, ip_prefix: 10.0.2, dns_suffix: eu-west-1.compute.local}
placement_queues:
  - {name: glfm-local, timeout_seconds: 60, destinations: [alias-local], notification_topic: glfm-placements}
  - {name: glfm-short, timeout_seconds: 1, destinations: [fleet-local], notification_topic: glfm-raw}
topics:
  - name: glfm-placements
    subscriptions: [{queue: glfm-placement-events}]
  - name: glfm-raw
    subscriptions: [{queue: glfm-raw-events, raw: true}]
queues:
  - {name: glfm-placement-events}
  - {name: glfm-raw-events}
  - {name: work, visibility_timeout_seconds: 30}
"""


class Emulator:
    def __init__(self, binary, world=FAST_WORLD):
        self.dir = tempfile.TemporaryDirectory()
        path = os.path.join(self.dir.name, "world.yaml")
        with open(path, "w") as f:
            f.write(world)
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--world", path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        prefix = "listening on "
        if not line.startswith(prefix):
            self.proc.kill()
            raise RuntimeError("emulator did not start: %r %s" % (line, self.proc.stderr.read()))
        self.url = line[len(prefix):]

    def admin(self, path, body=None, method=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_emulator" + path, data=data,
                                     method=method or ("POST" if data is not None else "GET"))
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"{}")

    def requests(self, operation=None):
        q = "?operation=" + operation if operation else ""
        return self.admin("/requests" + q)["requests"]

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.dir.cleanup()


def client_kwargs(url):
    return dict(region_name="us-east-1", endpoint_url=url, aws_access_key_id="AKIDEXAMPLE",
                aws_secret_access_key="secret")
