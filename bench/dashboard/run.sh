#!/usr/bin/env bash
# Renders docs/dashboard.svg: deploy/monitoring/grafana-dashboard.json drawn from real data.
#   bash bench/dashboard/run.sh [seconds]        (default 240; needs `npm run tools` and Go)
# 1. record.ts runs the built plugin on a real OpenBao under a scripted load and scrapes /metrics every 5 s;
# 2. promtool turns the scrapes into a TSDB; promql-eval (Prometheus' own PromQL engine, built here from the
#    same module version as promtool) evaluates every panel's queries over it;
# 3. render.mjs draws the panels on the dashboard's grid with vega-lite.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-240}"
out="bench/results/dashboard"
npm run build --silent
(cd bench/dashboard/promql-eval && GOFLAGS=-mod=mod go build -trimpath -tags remove_all_sd -o "$PWD/../../../dist/promql-eval" .)
node dist/bench/dashboard/record.js "$seconds" "$out"
node bench/dashboard/render.mjs "$out" dist/promql-eval docs/dashboard.svg
