// The AWS SDK for JavaScript v3 (@aws-sdk/client-gamelift, @aws-sdk/client-sqs, pinned in
// package.json) against the glfm emulator. It sends floats as integers and asks for
// MessageSystemAttributeNames where boto3 sends AttributeNames; it checks MD5OfBody itself.
//
// Usage: node test_js_sdk.mjs PATH/TO/glfm_emulator   (npm ci in this folder first)
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as GL from "@aws-sdk/client-gamelift";
import * as SQS from "@aws-sdk/client-sqs";

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.argv[2];
// The same fast world as the Python tests (harness.py FAST_WORLD).
const harness = readFileSync(join(here, "harness.py"), "utf8");
const world = harness.split('FAST_WORLD = """')[1].split('"""')[0];
const dir = mkdtempSync(join(tmpdir(), "glfm-emu-js-"));
writeFileSync(join(dir, "world.yaml"), world);

const proc = spawn(binary, ["--listen", "127.0.0.1:0", "--world", join(dir, "world.yaml")], {
  stdio: ["ignore", "pipe", "inherit"],
});
const url = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: proc.stdout });
  rl.once("line", (line) => {
    const m = /^listening on (http:\/\/\S+)$/.exec(line);
    m ? resolve(m[1]) : reject(new Error("bad first line: " + line));
  });
  proc.once("exit", (code) => reject(new Error("emulator exited " + code)));
});
after(() => proc.kill("SIGTERM"));

const config = {
  region: "us-east-1",
  endpoint: url,
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
  maxAttempts: 1,
};
const gl = new GL.GameLiftClient(config);
const sqs = new SQS.SQSClient(config);
const eventsUrl = (await sqs.send(new SQS.GetQueueUrlCommand({ QueueName: "glfm-placement-events" })))
  .QueueUrl;

async function nextEvent() {
  for (let i = 0; i < 5; i++) {
    const r = await sqs.send(new SQS.ReceiveMessageCommand({
      QueueUrl: eventsUrl, WaitTimeSeconds: 20, MaxNumberOfMessages: 10,
      MessageSystemAttributeNames: ["All"],
    }));
    if (r.Messages?.length) {
      const m = r.Messages[0];
      await sqs.send(new SQS.DeleteMessageCommand({ QueueUrl: eventsUrl, ReceiptHandle: m.ReceiptHandle }));
      return m;
    }
  }
  throw new Error("no event arrived");
}

test("placement, event and sessions through the JS SDK", async () => {
  const start = await gl.send(new GL.StartGameSessionPlacementCommand({
    PlacementId: "js-1", GameSessionQueueName: "glfm-local", MaximumPlayerSessionCount: 5,
    GameSessionName: "js", GameProperties: [{ Key: "mode", Value: "js" }],
    DesiredPlayerSessions: [{ PlayerId: "j1", PlayerData: "d1" }],
    PlayerLatencies: [{ PlayerId: "j1", RegionIdentifier: "us-east-1", LatencyInMilliseconds: 10 },
      { PlayerId: "j1", RegionIdentifier: "eu-west-1", LatencyInMilliseconds: 50 }],
  }));
  assert.equal(start.GameSessionPlacement.Status, "PENDING");
  assert.ok(start.GameSessionPlacement.StartTime instanceof Date);
  const m = await nextEvent();
  assert.equal(m.Attributes.ApproximateReceiveCount, "1");
  assert.ok(Number(m.Attributes.SentTimestamp) > 0);
  const ev = JSON.parse(JSON.parse(m.Body).Message);
  assert.equal(ev["detail-type"], "GameLift Queue Placement Event");
  assert.equal(ev.detail.type, "PlacementFulfilled");
  assert.equal(ev.detail.gameSessionRegion, "us-east-1");
  assert.equal(typeof ev.detail.port, "string");

  const p = (await gl.send(new GL.DescribeGameSessionPlacementCommand({ PlacementId: "js-1" })))
    .GameSessionPlacement;
  assert.equal(p.Status, "FULFILLED");
  assert.equal(p.Port, Number(ev.detail.port));
  const arn = p.GameSessionArn;

  const ps = await gl.send(new GL.CreatePlayerSessionsCommand({ GameSessionId: arn, PlayerIds: ["j2", "j3"] }));
  assert.deepEqual(ps.PlayerSessions.map((s) => s.Status), ["RESERVED", "RESERVED"]);
  const one = await gl.send(new GL.CreatePlayerSessionCommand({ GameSessionId: arn, PlayerId: "j4" }));
  assert.equal(one.PlayerSession.GameSessionId, arn);
  await assert.rejects(
    gl.send(new GL.CreatePlayerSessionsCommand({ GameSessionId: arn, PlayerIds: ["j5", "j6"] })),
    (e) => e.name === "GameSessionFullException" && e instanceof GL.GameSessionFullException);
  const all = await gl.send(new GL.DescribePlayerSessionsCommand({ GameSessionId: arn }));
  assert.equal(all.PlayerSessions.length, 4);

  const up = await gl.send(new GL.UpdateGameSessionCommand({ GameSessionId: arn, MaximumPlayerSessionCount: 6 }));
  assert.equal(up.GameSession.MaximumPlayerSessionCount, 6);
  const found = await gl.send(new GL.SearchGameSessionsCommand({
    FleetId: "fleet-local", FilterExpression: "gameSessionProperties.mode = 'js'",
    SortExpression: "creationTimeMillis ASC", Limit: 20,
  }));
  assert.deepEqual(found.GameSessions.map((g) => g.GameSessionId), [arn]);
  assert.equal(found.GameSessions[0].CurrentPlayerSessionCount, 4);
  const alias = await gl.send(new GL.DescribeAliasCommand({ AliasId: "alias-local" }));
  assert.equal(alias.Alias.RoutingStrategy.FleetId, "fleet-local");
  await assert.rejects(gl.send(new GL.DescribeGameSessionPlacementCommand({ PlacementId: "nope" })),
    (e) => e.name === "NotFoundException");
  await assert.rejects(gl.send(new GL.StartGameSessionPlacementCommand({
    PlacementId: "js-1", GameSessionQueueName: "glfm-local", MaximumPlayerSessionCount: 5 })),
  (e) => e.name === "InvalidRequestException");

  // Another client (boto3 1.43) sees the placement the JS SDK started.
  const py = spawnSync("python3", ["-c", `
import boto3, sys
c = boto3.client("gamelift", region_name="us-east-1", endpoint_url=sys.argv[1],
                 aws_access_key_id="a", aws_secret_access_key="b")
p = c.describe_game_session_placement(PlacementId="js-1")["GameSessionPlacement"]
print(p["Status"], p["GameSessionArn"])`, url], { encoding: "utf8" });
  assert.equal(py.status, 0, py.stderr);
  assert.equal(py.stdout.trim(), `FULFILLED ${arn}`);
});

test("SQS visibility, batches, attributes and errors through the JS SDK", async () => {
  const q = (await sqs.send(new SQS.CreateQueueCommand({ QueueName: "js-work" }))).QueueUrl;
  const sent = await sqs.send(new SQS.SendMessageBatchCommand({ QueueUrl: q, Entries: [
    { Id: "a", MessageBody: "one" }, { Id: "b", MessageBody: "two" }] }));
  assert.equal(sent.Successful.length, 2);
  const r1 = await sqs.send(new SQS.ReceiveMessageCommand({ QueueUrl: q, MaxNumberOfMessages: 10,
    VisibilityTimeout: 0, MessageSystemAttributeNames: ["ApproximateReceiveCount"] }));
  assert.equal(r1.Messages.length, 2);
  const r2 = await sqs.send(new SQS.ReceiveMessageCommand({ QueueUrl: q, MaxNumberOfMessages: 10,
    MessageSystemAttributeNames: ["ApproximateReceiveCount"] }));
  assert.deepEqual(r2.Messages.map((m) => m.Attributes.ApproximateReceiveCount), ["2", "2"]);
  assert.notEqual(r2.Messages[0].ReceiptHandle, r1.Messages[0].ReceiptHandle);
  await sqs.send(new SQS.ChangeMessageVisibilityCommand({ QueueUrl: q,
    ReceiptHandle: r2.Messages[0].ReceiptHandle, VisibilityTimeout: 0 }));
  const attrs = await sqs.send(new SQS.GetQueueAttributesCommand({ QueueUrl: q,
    AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }));
  assert.deepEqual(attrs.Attributes, { ApproximateNumberOfMessages: "1",
    ApproximateNumberOfMessagesNotVisible: "1" });
  const r3 = await sqs.send(new SQS.ReceiveMessageCommand({ QueueUrl: q }));
  const del = await sqs.send(new SQS.DeleteMessageBatchCommand({ QueueUrl: q, Entries: [
    { Id: "x", ReceiptHandle: r3.Messages[0].ReceiptHandle },
    { Id: "y", ReceiptHandle: r2.Messages[1].ReceiptHandle }] }));
  assert.deepEqual(del.Successful.map((e) => e.Id).sort(), ["x", "y"]);
  await assert.rejects(sqs.send(new SQS.GetQueueUrlCommand({ QueueName: "missing" })),
    (e) => e.name === "QueueDoesNotExist" || e.Code === "AWS.SimpleQueueService.NonExistentQueue");
});
