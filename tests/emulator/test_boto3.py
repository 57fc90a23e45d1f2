"""boto3 against the glfm emulator: GameLift (JSON 1.1) and SQS (JSON 1.0 with boto3 1.43, the
Query protocol with Debian's boto3 1.26), every JSON reply checked against the botocore model.

Usage: python3 test_boto3.py PATH/TO/glfm_emulator
"""
import hashlib
import json
import os
import sys
import threading
import unittest

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BINARY = None
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def check_shape(shape, value, path, problems):
    """Checks a parsed-from-wire JSON value against a botocore shape (unknown keys, types)."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            problems.append("%s: want object" % path)
            return
        for k, v in value.items():
            if k not in shape.members:
                problems.append("%s.%s: not in the model" % (path, k))
            else:
                check_shape(shape.members[k], v, path + "." + k, problems)
        for req in shape.required_members:
            if req not in value:
                problems.append("%s.%s: required and missing" % (path, req))
    elif t == "list":
        if not isinstance(value, list):
            problems.append("%s: want list" % path)
            return
        for i, v in enumerate(value):
            check_shape(shape.member, v, "%s[%d]" % (path, i), problems)
    elif t == "map":
        if not isinstance(value, dict):
            problems.append("%s: want map" % path)
            return
        for k, v in value.items():
            check_shape(shape.value, v, path + "." + k, problems)
    elif t == "string":
        if not isinstance(value, str):
            problems.append("%s: want string, got %r" % (path, value))
        elif shape.enum and value not in shape.enum:
            problems.append("%s: %r not in enum" % (path, value))
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append("%s: want integer, got %r" % (path, value))
    elif t in ("float", "double", "timestamp"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append("%s: want number, got %r" % (path, value))
    elif t == "boolean":
        if not isinstance(value, bool):
            problems.append("%s: want boolean" % path)


class ModelChecker:
    """Validates every successful JSON reply a client receives against the botocore model."""

    def __init__(self):
        self.problems = []
        self.checked = 0

    def attach(self, client):
        client.meta.events.register("after-call", self.after_call)
        return client

    def after_call(self, http_response, parsed, model, **kwargs):
        ctype = http_response.headers.get("content-type", "")
        if http_response.status_code != 200 or "json" not in ctype:
            return
        body = json.loads(http_response.content or b"{}")
        if model.output_shape is not None:
            check_shape(model.output_shape, body, model.name, self.problems)
            self.checked += 1


class Boto3Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = harness.Emulator(BINARY)
        cls.checker = ModelChecker()
        kw = harness.client_kwargs(cls.emu.url)
        cls.gl = cls.checker.attach(boto3.client("gamelift", config=NO_RETRY, **kw))
        cls.sqs = cls.checker.attach(boto3.client("sqs", config=NO_RETRY, **kw))
        cls.events_url = cls.sqs.get_queue_url(QueueName="glfm-placement-events")["QueueUrl"]
        cls.raw_url = cls.sqs.get_queue_url(QueueName="glfm-raw-events")["QueueUrl"]
        cls.work_url = cls.sqs.get_queue_url(QueueName="work")["QueueUrl"]
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.emu.close()
        if cls.checker.problems:
            raise AssertionError("replies off the botocore model: %s" % cls.checker.problems)

    def new_id(self):
        Boto3Test.n += 1
        return "p-%s-%d" % (self._testMethodName.replace("_", "-")[:30], Boto3Test.n)

    def next_event(self, url):
        """Long-polls until one message arrives (woken by its arrival), deletes it."""
        for _ in range(5):
            r = self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20, MaxNumberOfMessages=1)
            if r.get("Messages"):
                m = r["Messages"][0]
                self.assertEqual(m["MD5OfBody"], hashlib.md5(m["Body"].encode()).hexdigest())
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                return m
        self.fail("no message arrived")

    def place(self, **extra):
        pid = self.new_id()
        args = dict(PlacementId=pid, GameSessionQueueName="glfm-local",
                    MaximumPlayerSessionCount=4)
        args.update(extra)
        self.gl.start_game_session_placement(**args)
        env = json.loads(self.next_event(self.events_url)["Body"])
        event = json.loads(env["Message"])
        self.assertEqual(event["detail"]["placementId"], pid)
        return pid, env, event

    # ---- GameLift ---------------------------------------------------------------------

    def test_default_world_alias_and_queue(self):
        a = self.gl.describe_alias(AliasId="alias-local")["Alias"]
        self.assertEqual(a["RoutingStrategy"], {"Type": "SIMPLE", "FleetId": "fleet-local"})
        with self.assertRaises(ClientError) as e:
            self.gl.describe_alias(AliasId="alias-nope")
        self.assertEqual(e.exception.response["Error"]["Code"], "NotFoundException")

    def test_placement_fulfilled_event_as_aws_sends_it(self):
        pid, env, event = self.place(
            GameProperties=[{"Key": "mode", "Value": "duel"}], GameSessionName="g1",
            GameSessionData="data-1",
            DesiredPlayerSessions=[{"PlayerId": "u1", "PlayerData": "pd1"}, {"PlayerId": "u2"}],
            PlayerLatencies=[
                {"PlayerId": "u1", "RegionIdentifier": "us-east-1", "LatencyInMilliseconds": 90},
                {"PlayerId": "u1", "RegionIdentifier": "eu-west-1", "LatencyInMilliseconds": 15.5},
                {"PlayerId": "u2", "RegionIdentifier": "eu-west-1", "LatencyInMilliseconds": 30}])
        self.assertEqual(env["Type"], "Notification")
        self.assertEqual(env["TopicArn"], "arn:aws:sns:us-east-1:000000000000:glfm-placements")
        for k in ("MessageId", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL",
                  "UnsubscribeURL"):
            self.assertIn(k, env)
        self.assertEqual(event["version"], "0")
        self.assertEqual(event["detail-type"], "GameLift Queue Placement Event")
        self.assertEqual(event["source"], "aws.gamelift")
        self.assertEqual(event["resources"],
                         ["arn:aws:gamelift:us-east-1:000000000000:gamesessionqueue/glfm-local"])
        d = event["detail"]
        self.assertEqual(d["type"], "PlacementFulfilled")
        self.assertIsInstance(d["port"], str)
        self.assertEqual(d["gameSessionRegion"], "eu-west-1")  # lowest average latency
        self.assertEqual([p["playerId"] for p in d["placedPlayerSessions"]], ["u1", "u2"])
        p = self.gl.describe_game_session_placement(PlacementId=pid)["GameSessionPlacement"]
        self.assertEqual(p["Status"], "FULFILLED")
        self.assertEqual(p["Port"], int(d["port"]))  # a number in API replies
        self.assertEqual(p["GameSessionArn"], d["gameSessionArn"])
        gs = self.gl.describe_game_sessions(GameSessionId=d["gameSessionArn"])["GameSessions"][0]
        self.assertEqual(gs["Status"], "ACTIVE")
        self.assertEqual(gs["Name"], "g1")
        self.assertEqual(gs["GameSessionData"], "data-1")
        self.assertEqual(gs["GameProperties"], [{"Key": "mode", "Value": "duel"}])
        self.assertEqual(gs["CurrentPlayerSessionCount"], 2)
        ps = self.gl.describe_player_sessions(GameSessionId=gs["GameSessionId"])["PlayerSessions"]
        self.assertEqual(sorted(s["Status"] for s in ps), ["RESERVED", "RESERVED"])
        self.assertEqual([s.get("PlayerData") for s in ps], ["pd1", None])

    def test_reused_placement_id_rejected(self):
        pid, _, _ = self.place()
        with self.assertRaises(ClientError) as e:
            self.gl.start_game_session_placement(PlacementId=pid, GameSessionQueueName="glfm-local",
                                                 MaximumPlayerSessionCount=2)
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidRequestException")
        with self.assertRaises(ClientError) as e:
            self.gl.start_game_session_placement(PlacementId="bad id!",
                                                 GameSessionQueueName="glfm-local",
                                                 MaximumPlayerSessionCount=2)
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidRequestException")
        with self.assertRaises(ClientError) as e:
            self.gl.start_game_session_placement(PlacementId=self.new_id(),
                                                 GameSessionQueueName="glfm-local",
                                                 MaximumPlayerSessionCount=201)
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidRequestException")

    def test_cancelled_and_timed_out_when_no_capacity(self):
        for loc in ("us-east-1", "eu-west-1"):
            self.emu.admin("/capacity", {"fleet": "fleet-local", "location": loc, "capacity": 0})
        try:
            pid = self.new_id()
            self.gl.start_game_session_placement(PlacementId=pid, GameSessionQueueName="glfm-local",
                                                 MaximumPlayerSessionCount=2)
            self.assertEqual(self.gl.describe_game_session_placement(PlacementId=pid)
                             ["GameSessionPlacement"]["Status"], "PENDING")
            p = self.gl.stop_game_session_placement(PlacementId=pid)["GameSessionPlacement"]
            self.assertEqual(p["Status"], "CANCELLED")
            ev = json.loads(json.loads(self.next_event(self.events_url)["Body"])["Message"])
            self.assertEqual(ev["detail"]["type"], "PlacementCancelled")
            self.assertEqual(ev["detail"]["placementId"], pid)
            # glfm-short: 1 s timeout, raw delivery (the event itself, no SNS envelope).
            pid = self.new_id()
            self.gl.start_game_session_placement(PlacementId=pid, GameSessionQueueName="glfm-short",
                                                 MaximumPlayerSessionCount=2)
            ev = json.loads(self.next_event(self.raw_url)["Body"])
            self.assertEqual(ev["detail"]["type"], "PlacementTimedOut")
            self.assertEqual(ev["detail"]["placementId"], pid)
            self.assertEqual(self.gl.describe_game_session_placement(PlacementId=pid)
                             ["GameSessionPlacement"]["Status"], "TIMED_OUT")
        finally:
            for loc in ("us-east-1", "eu-west-1"):
                self.emu.admin("/capacity",
                               {"fleet": "fleet-local", "location": loc, "capacity": 300})

    def test_player_sessions_lifecycle_and_errors(self):
        _, _, ev = self.place(MaximumPlayerSessionCount=3,
                              DesiredPlayerSessions=[{"PlayerId": "a"}])
        arn = ev["detail"]["gameSessionArn"]
        one = self.gl.create_player_session(GameSessionId=arn, PlayerId="b",
                                            PlayerData="x")["PlayerSession"]
        self.assertEqual(one["Status"], "RESERVED")
        with self.assertRaises(ClientError) as e:
            self.gl.create_player_sessions(GameSessionId=arn, PlayerIds=["c", "d"])
        self.assertEqual(e.exception.response["Error"]["Code"], "GameSessionFullException")
        many = self.gl.create_player_sessions(GameSessionId=arn, PlayerIds=["c"],
                                              PlayerDataMap={"c": "cd"})["PlayerSessions"]
        self.assertEqual(many[0]["PlayerData"], "cd")
        # The local game server accepts b; the rest time out unaccepted.
        acc = self.emu.admin("/player-sessions/accept", {"PlayerSessionId": one["PlayerSessionId"]})
        self.assertEqual(acc["Status"], "ACTIVE")
        self.assertEqual(self.emu.admin("/player-sessions/expire", {"GameSessionId": arn}),
                         {"expired": 2})
        st = {s["PlayerId"]: s["Status"] for s in
              self.gl.describe_player_sessions(GameSessionId=arn)["PlayerSessions"]}
        self.assertEqual(st, {"a": "TIMEDOUT", "b": "ACTIVE", "c": "TIMEDOUT"})
        only = self.gl.describe_player_sessions(GameSessionId=arn,
                                                PlayerSessionStatusFilter="ACTIVE")
        self.assertEqual([s["PlayerId"] for s in only["PlayerSessions"]], ["b"])
        self.emu.admin("/game-sessions/terminate", {"GameSessionId": arn})
        gs = self.gl.describe_game_sessions(GameSessionId=arn)["GameSessions"][0]
        self.assertEqual(gs["Status"], "TERMINATED")
        with self.assertRaises(ClientError) as e:
            self.gl.create_player_session(GameSessionId=arn, PlayerId="z")
        self.assertEqual(e.exception.response["Error"]["Code"],
                         "InvalidGameSessionStatusException")
        with self.assertRaises(ClientError) as e:
            self.gl.create_player_session(GameSessionId=arn + "x", PlayerId="z")
        self.assertEqual(e.exception.response["Error"]["Code"], "NotFoundException")

    def test_update_and_search(self):
        arns = []
        for i, mode in enumerate(["ffa", "duel", "duel"]):
            _, _, ev = self.place(GameSessionName="search-%d" % i, MaximumPlayerSessionCount=10,
                                  GameProperties=[{"Key": "mode", "Value": mode},
                                                  {"Key": "suite", "Value": "search"}],
                                  DesiredPlayerSessions=[{"PlayerId": "p%d" % j}
                                                         for j in range(i + 1)])
            arns.append(ev["detail"]["gameSessionArn"])
        update = dict(GameSessionId=arns[0], Name="renamed")
        in_shape = self.gl.meta.service_model.operation_model("UpdateGameSession").input_shape
        if "GameProperties" in in_shape.members:  # botocore >= 1.3x models it
            update["GameProperties"] = [{"Key": "mode", "Value": "duel"}]
            arns_duel = [arns[0], arns[1]]
        else:
            arns_duel = [arns[1]]
        up = self.gl.update_game_session(**update)
        self.assertEqual(up["GameSession"]["Name"], "renamed")
        flt = ("gameSessionProperties.suite = 'search' AND "
               "(gameSessionProperties.mode = 'duel' AND NOT playerSessionCount >= 3)")
        r = self.gl.search_game_sessions(AliasId="alias-local", FilterExpression=flt,
                                         SortExpression="playerSessionCount DESC", Limit=1)
        got = [g["GameSessionId"] for g in r["GameSessions"]]
        self.assertEqual(got, [arns[1]])
        if len(arns_duel) == 2:
            r = self.gl.search_game_sessions(AliasId="alias-local", FilterExpression=flt,
                                             SortExpression="playerSessionCount DESC", Limit=1,
                                             NextToken=r["NextToken"])
            self.assertEqual([g["GameSessionId"] for g in r["GameSessions"]], [arns[0]])
        self.assertNotIn("NextToken", r)
        with self.assertRaises(ClientError) as e:
            self.gl.search_game_sessions(FleetId="fleet-local", FilterExpression="bogus = 1")
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidRequestException")
        log = self.emu.requests("UpdateGameSession")
        self.assertEqual(len(log), 1)

    # ---- SQS ----------------------------------------------------------------------------

    def test_sqs_visibility_redelivery_and_batches(self):
        url = self.work_url
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="hello")
        self.assertEqual(sent["MD5OfMessageBody"], hashlib.md5(b"hello").hexdigest())
        r1 = self.sqs.receive_message(QueueUrl=url, AttributeNames=["All"],
                                      VisibilityTimeout=0)["Messages"][0]
        r2 = self.sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"],
                                      VisibilityTimeout=30)["Messages"][0]
        self.assertEqual(r1["MessageId"], r2["MessageId"])
        self.assertNotEqual(r1["ReceiptHandle"], r2["ReceiptHandle"])
        self.assertEqual(r1["Attributes"]["ApproximateReceiveCount"], "1")
        self.assertEqual(r2["Attributes"], {"ApproximateReceiveCount": "2"})
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual(attrs["ApproximateNumberOfMessagesNotVisible"], "1")
        cv = self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "a", "ReceiptHandle": r2["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "b", "ReceiptHandle": r1["ReceiptHandle"], "VisibilityTimeout": 0}])
        self.assertEqual([x["Id"] for x in cv["Successful"]], ["a"])
        self.assertEqual(cv["Failed"][0]["Code"], "AWS.SimpleQueueService.MessageNotInflight")
        r3 = self.sqs.receive_message(QueueUrl=url)["Messages"][0]
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=r3["ReceiptHandle"],
                                           VisibilityTimeout=60)
        self.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "x", "MessageBody": "m1"}, {"Id": "y", "MessageBody": "m2"}])
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        self.assertEqual(sorted(m["Body"] for m in got), ["m1", "m2"])
        d = self.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got + [r3])])
        self.assertEqual(len(d["Successful"]), 3)
        with self.assertRaises(ClientError) as e:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage")
        self.assertEqual(e.exception.response["Error"]["Code"], "ReceiptHandleIsInvalid")
        with self.assertRaises(ClientError) as e:
            self.sqs.receive_message(QueueUrl=url + "-nope")
        self.assertEqual(e.exception.response["Error"]["Code"],
                         "AWS.SimpleQueueService.NonExistentQueue")

    def test_sqs_long_poll_woken_by_arrival(self):
        url = self.sqs.create_queue(QueueName="longpoll")["QueueUrl"]
        box = {}
        kw = harness.client_kwargs(self.emu.url)
        poller = boto3.client("sqs", config=NO_RETRY, **kw)
        t = threading.Thread(target=lambda: box.setdefault(
            "r", poller.receive_message(QueueUrl=url, WaitTimeSeconds=20)))
        t.start()
        # The send happens once the poll is parked: the request log shows the receive.
        while not [x for x in self.emu.requests("ReceiveMessage") if "longpoll" in x["body"]]:
            pass
        self.sqs.send_message(QueueUrl=url, MessageBody="wake")
        t.join(timeout=15)
        self.assertFalse(t.is_alive(), "long poll was not woken by the arrival")
        self.assertEqual(box["r"]["Messages"][0]["Body"], "wake")

    def test_sqs_dead_letter_queue(self):
        dlq = self.sqs.create_queue(QueueName="dlq")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=dlq,
                                            AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        src = self.sqs.create_queue(QueueName="src", Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})})[
                "QueueUrl"]
        self.sqs.send_message(QueueUrl=src, MessageBody="poison")
        for _ in range(2):
            self.assertEqual(len(self.sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)
                                 ["Messages"]), 1)
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=src))
        self.assertEqual(self.sqs.receive_message(QueueUrl=dlq)["Messages"][0]["Body"], "poison")

    # ---- faults and the request log ------------------------------------------------------

    def test_injected_faults_and_request_log(self):
        self.emu.admin("/faults", {"seed": 7, "operations": {
            "DescribeAlias": {"throttle_percent": 100},
            "GetQueueAttributes": {"error_percent": 100}}})
        try:
            with self.assertRaises(ClientError) as e:
                self.gl.describe_alias(AliasId="alias-local")
            self.assertEqual(e.exception.response["Error"]["Code"], "ThrottlingException")
            with self.assertRaises(ClientError) as e:
                self.sqs.get_queue_attributes(QueueUrl=self.work_url, AttributeNames=["All"])
            self.assertEqual(e.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)
            self.assertEqual(e.exception.response["Error"]["Code"], "InternalError")
        finally:
            self.emu.admin("/faults", {})
        self.gl.describe_alias(AliasId="alias-local")
        codes = [x["error"] for x in self.emu.requests("DescribeAlias")]
        self.assertIn("ThrottlingException", codes)
        self.assertEqual(codes[-1], "")


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    print("boto3", boto3.__version__, "botocore", botocore.__version__)
    unittest.main(verbosity=2)
