#!/usr/bin/env bash
# The README's demo: real work on the bundled example, start to finish.
#   1. check  — read orders' Go code and deploy files: what will get it killed
#   2. drill  — run orders under its manifest's 64Mi limit, load it: OOM-killed, site named
#   3. drill  — run orders-fixed the same way: passes, drains cleanly on SIGTERM
#   4. why    — explain a kill from the evidence an on-call engineer has
#   5. plan   — (steps 6-7) from orders-fixed's drill as JSON to requests, limits, GOMEMLIMIT, grace,
#               replicas for 1000 req/s, alert rules and a kustomize patch
# Each step prints its report; a failing verdict is the point of steps 1-2, so the script
# goes on and exits 0 only when every step behaved as the example promises.
set -u
cd "$(dirname "$0")/.."
kp=.venv/bin/killproof
port_a=$((20000 + RANDOM % 10000))
port_b=$((port_a + 1))
status=0
work=$(mktemp -d "${TMPDIR:-/tmp}/killproof-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

step() {
  local want=$1
  shift
  printf '\n\033[1m━━ %s\033[0m\n$ %s\n\n' "$STEP" "$*"
  "$@"
  local got=$?
  if [ "$got" != "$want" ]; then
    printf '\n!! expected exit %s, got %s\n' "$want" "$got"
    status=1
  fi
}

STEP="1. killproof check examples/orders — the service from the incident" \
  step 1 $kp check examples/orders
STEP="2. killproof check examples/orders-fixed — its corrected twin (no errors)" \
  step 0 $kp check examples/orders-fixed
STEP="3. killproof drill examples/orders — 64Mi limit from its Deployment, 200 new orders/s" \
  step 1 $kp drill examples/orders --port "$port_a" --rate 200 --duration 20s \
  --request 'GET /orders?id={n}' --no-progress --html "${TMPDIR:-/tmp}/killproof-demo-drill.html"
STEP="4. killproof drill examples/orders-fixed — same load, 128Mi, GOMEMLIMIT, SIGTERM drain" \
  step 0 $kp drill examples/orders-fixed --port "$port_b" --rate 200 --duration 15s \
  --request 'GET /orders?id={n}' --no-progress
STEP="5. killproof why — the incident's kernel log, pod status and deploy log, together" \
  step 1 $kp why examples/incident/kern.log examples/incident/pod.json examples/incident/deploy.log
STEP="6. killproof drill examples/orders-fixed --format json — the numbers plan sizes from" \
  step 0 $kp drill examples/orders-fixed --port "$((port_b + 1))" --rate 200 --duration 15s \
  --request 'GET /orders?id={n}' --no-progress --format json -o "$work/orders-fixed.json"
STEP="7. killproof plan — requests, limits, GOMEMLIMIT, grace, replicas, alerts, a patch" \
  step 0 $kp plan "$work/orders-fixed.json" --manifest examples/orders-fixed/deploy/deployment.yaml \
  --target-rps 1000 --alerts-out "$work/alerts.yaml" --write-patch "$work/plan-patch"
if [ -f "$work/plan-patch/patch.yaml" ]; then
  printf '\nthe kustomize patch plan wrote (patch.yaml):\n'
  cat "$work/plan-patch/patch.yaml"
fi

if [ "$status" = 0 ]; then
  printf '\n\033[1mdemo: every step behaved as expected\033[0m\n'
else
  printf '\n\033[1mdemo: some step did not behave as expected (see above)\033[0m\n'
fi
exit "$status"
