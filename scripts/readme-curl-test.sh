#!/usr/bin/env bash
# Runs the curl examples of README.md ("Try it") against a fresh `glfm serve` in local mode and
# checks what they print. Usage: readme-curl-test.sh GLFM_BINARY [README.md]
set -euo pipefail
GLFM=$(realpath "$1")
README=$(realpath "${2:-$(dirname "$0")/../README.md}")
WORK=$(mktemp -d /tmp/glfm-readme-XXXXXX)
cleanup() {
  if [[ -n "${SERVER:-}" ]]; then kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
"$GLFM" serve --data-dir data --listen 127.0.0.1:0 >out.log 2>&1 &
SERVER=$!
for _ in $(seq 1 200); do
  grep -q 'listening on' out.log 2>/dev/null && break
  sleep 0.05
done
URL=$(grep -o 'listening on http://[0-9.:]*' out.log | sed 's/listening on //')
[[ -n "$URL" ]] || { cat out.log; exit 1; }
# The first sh block after "## Try it", with the API address replaced.
awk '/^## Try it/{f=1} f&&/^```sh/{b=1;next} b&&/^```/{exit} b' "$README" \
  | sed "s|^API=.*|API=$URL|" >examples.sh
bash -euo pipefail examples.sh >examples.out
cat examples.out
grep -q '"session_info":\[{' examples.out || { echo "join printed no session"; exit 1; }
grep -q '"metadata":{"GameProperties":{"mode":"ctf"}},"player_count":2' examples.out || { echo "the update did not show in the list"; exit 1; }
[[ $(grep -c '"payload":""' examples.out) -eq 1 ]] || { echo "delete RPC answer missing"; exit 1; }
grep -q '/v1/events .*/v1/placements ' examples.out || { echo "the OpenAPI routes were not listed"; exit 1; }
kill -TERM "$SERVER"
wait "$SERVER"
RC=$?
SERVER=
[[ $RC -eq 0 ]] || { echo "glfm exited $RC"; exit 1; }
echo "README examples OK"
