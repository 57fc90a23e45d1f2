"""Debian's aws-cli 2.9 (/usr/bin/aws, SQS over the Query protocol) against the glfm emulator,
and a placement started with the CLI seen and its event received by boto3 (another client).

Usage: /usr/bin/python3 test_awscli.py PATH/TO/glfm_emulator
"""
import json
import os
import subprocess
import sys
import unittest

import boto3
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BINARY = None
AWS = "/usr/bin/aws"


class AwsCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = harness.Emulator(BINARY)
        cls.env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="x",
                       AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        cls.env.pop("AWS_PROFILE", None)
        kw = harness.client_kwargs(cls.emu.url)
        cls.gl = boto3.client("gamelift", **kw)
        cls.sqs = boto3.client("sqs", **kw)

    @classmethod
    def tearDownClass(cls):
        cls.emu.close()

    def aws(self, *args, ok=True):
        p = subprocess.run([AWS, "--endpoint-url", self.emu.url, "--output", "json"] + list(args),
                           env=self.env, capture_output=True, text=True, timeout=60)
        if ok:
            self.assertEqual(p.returncode, 0, p.stderr)
            return json.loads(p.stdout) if p.stdout.strip() else {}
        self.assertNotEqual(p.returncode, 0)
        return p.stderr

    def test_cli_placement_seen_by_boto3_and_event_via_cli(self):
        out = self.aws("gamelift", "start-game-session-placement", "--placement-id", "cli-1",
                       "--game-session-queue-name", "glfm-local",
                       "--maximum-player-session-count", "8",
                       "--desired-player-sessions", "PlayerId=u1,PlayerData=hello")
        self.assertEqual(out["GameSessionPlacement"]["PlacementId"], "cli-1")
        url = self.aws("sqs", "get-queue-url", "--queue-name", "glfm-placement-events")["QueueUrl"]
        msg = self.aws("sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "20",
                       "--attribute-names", "All")["Messages"][0]
        self.assertEqual(msg["Attributes"]["ApproximateReceiveCount"], "1")
        event = json.loads(json.loads(msg["Body"])["Message"])
        self.assertEqual(event["detail"]["placementId"], "cli-1")
        self.assertEqual(event["detail"]["type"], "PlacementFulfilled")
        self.aws("sqs", "delete-message", "--queue-url", url, "--receipt-handle",
                 msg["ReceiptHandle"])
        # Another client (boto3) sees the same placement and game session.
        p = self.gl.describe_game_session_placement(PlacementId="cli-1")["GameSessionPlacement"]
        self.assertEqual(p["Status"], "FULFILLED")
        self.assertEqual(p["GameSessionArn"], event["detail"]["gameSessionArn"])
        self.assertEqual(p["PlacedPlayerSessions"][0]["PlayerId"], "u1")
        # ... and the CLI reads what boto3 changes.
        self.gl.update_game_session(GameSessionId=p["GameSessionArn"], Name="from-boto3")
        gs = self.aws("gamelift", "describe-game-sessions", "--game-session-id",
                      p["GameSessionArn"])["GameSessions"][0]
        self.assertEqual(gs["Name"], "from-boto3")

    def test_cli_sqs_query_protocol(self):
        url = self.aws("sqs", "create-queue", "--queue-name", "cli-q")["QueueUrl"]
        sent = self.aws("sqs", "send-message", "--queue-url", url, "--message-body", "a&b<c>")
        self.assertEqual(len(sent["MD5OfMessageBody"]), 32)
        m = self.aws("sqs", "receive-message", "--queue-url", url, "--visibility-timeout", "0",
                     "--max-number-of-messages", "10")["Messages"]
        self.assertEqual(m[0]["Body"], "a&b<c>")
        attrs = self.aws("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names",
                         "ApproximateNumberOfMessages", "QueueArn")["Attributes"]
        self.assertEqual(attrs, {"ApproximateNumberOfMessages": "1",
                                 "QueueArn": "arn:aws:sqs:us-east-1:000000000000:cli-q"})
        m2 = self.aws("sqs", "receive-message", "--queue-url", url)["Messages"][0]
        self.assertNotEqual(m2["ReceiptHandle"], m[0]["ReceiptHandle"])
        batch = self.aws("sqs", "delete-message-batch", "--queue-url", url, "--entries",
                         json.dumps([{"Id": "1", "ReceiptHandle": m2["ReceiptHandle"]}]))
        self.assertEqual(batch["Successful"], [{"Id": "1"}])
        err = self.aws("sqs", "get-queue-url", "--queue-name", "missing", ok=False)
        self.assertIn("AWS.SimpleQueueService.NonExistentQueue", err)
        urls = self.aws("sqs", "list-queues", "--queue-name-prefix", "cli-q")["QueueUrls"]
        self.assertEqual(urls, [url])
        self.assertEqual(self.emu.requests("SendMessage")[-1]["protocol"], "query")

    def test_cli_sns_topics_and_raw_subscription(self):
        topic = self.aws("sns", "create-topic", "--name", "cli-topic")["TopicArn"]
        url = self.aws("sqs", "create-queue", "--queue-name", "cli-sub")["QueueUrl"]
        sub = self.aws("sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs",
                       "--notification-endpoint", "arn:aws:sqs:us-east-1:000000000000:cli-sub",
                       "--attributes", "RawMessageDelivery=true")["SubscriptionArn"]
        subs = self.aws("sns", "list-subscriptions-by-topic", "--topic-arn", topic)
        self.assertEqual([s["SubscriptionArn"] for s in subs["Subscriptions"]], [sub])
        self.aws("sns", "publish", "--topic-arn", topic, "--message", "raw-body")
        m = self.aws("sqs", "receive-message", "--queue-url", url)["Messages"][0]
        self.assertEqual(m["Body"], "raw-body")
        self.aws("sns", "set-subscription-attributes", "--subscription-arn", sub,
                 "--attribute-name", "RawMessageDelivery", "--attribute-value", "false")
        self.aws("sns", "publish", "--topic-arn", topic, "--message", "wrapped",
                 "--subject", "s")
        body = json.loads(self.aws("sqs", "receive-message", "--queue-url", url,
                                   "--wait-time-seconds", "5")["Messages"][0]["Body"])
        self.assertEqual((body["Type"], body["Message"], body["Subject"]),
                         ("Notification", "wrapped", "s"))
        topics = [t["TopicArn"] for t in self.aws("sns", "list-topics")["Topics"]]
        self.assertIn("arn:aws:sns:us-east-1:000000000000:glfm-placements", topics)
        err = self.aws("sns", "publish", "--topic-arn", topic + "-x", "--message", "m", ok=False)
        self.assertIn("NotFound", err)

    def test_boto3_query_errors_carry_sqs_codes(self):
        url = self.sqs.create_queue(QueueName="q-errors")["QueueUrl"]
        with self.assertRaises(ClientError) as e:
            self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidParameterValue")
        with self.assertRaises(ClientError) as e:
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="1:abc",
                                               VisibilityTimeout=5)
        self.assertEqual(e.exception.response["Error"]["Code"],
                         "AWS.SimpleQueueService.MessageNotInflight")
        log = self.emu.requests("ChangeMessageVisibility")
        self.assertEqual(log[-1]["protocol"], "query" if boto3.__version__ < "1.34" else "json")


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
