// Command promql-eval evaluates PromQL range queries with Prometheus' own
// engine over a TSDB directory (made by `promtool tsdb create-blocks-from
// openmetrics`), for bench/dashboard/render.mjs: the dashboard's panels drawn
// from real scraped data without a Prometheus server.
//
//	promql-eval -tsdb DIR -start UNIX -end UNIX -step 5s < queries.json > results.json
//
// queries.json: [{"id": "...", "expr": "..."}]; results.json: [{"id": "...",
// "series": [{"metric": {...}, "points": [[unix, value], ...]}], "error": "..."}].
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

type query struct {
	ID   string `json:"id"`
	Expr string `json:"expr"`
}

type series struct {
	Metric map[string]string `json:"metric"`
	Points [][2]float64      `json:"points"`
}

type result struct {
	ID     string   `json:"id"`
	Series []series `json:"series"`
	Error  string   `json:"error,omitempty"`
}

func main() {
	dir := flag.String("tsdb", "", "TSDB directory")
	start := flag.Float64("start", 0, "start, unix seconds")
	end := flag.Float64("end", 0, "end, unix seconds")
	step := flag.Duration("step", 5*time.Second, "resolution")
	flag.Parse()
	var queries []query
	if err := json.NewDecoder(os.Stdin).Decode(&queries); err != nil {
		fail("reading queries: %v", err)
	}
	db, err := tsdb.OpenDBReadOnly(*dir, "", slog.New(slog.DiscardHandler))
	if err != nil {
		fail("opening %s: %v", *dir, err)
	}
	defer db.Close()
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	from := time.UnixMilli(int64(*start * 1000))
	to := time.UnixMilli(int64(*end * 1000))
	out := make([]result, 0, len(queries))
	for _, q := range queries {
		r := result{ID: q.ID, Series: []series{}}
		rq, err := engine.NewRangeQuery(context.Background(), db, nil, q.Expr, from, to, *step)
		if err != nil {
			r.Error = err.Error()
			out = append(out, r)
			continue
		}
		res := rq.Exec(context.Background())
		if res.Err != nil {
			r.Error = res.Err.Error()
		} else if m, err := res.Matrix(); err != nil {
			r.Error = err.Error()
		} else {
			for _, s := range m {
				ser := series{Metric: s.Metric.Map(), Points: [][2]float64{}}
				for _, p := range s.Floats {
					if !math.IsNaN(p.F) && !math.IsInf(p.F, 0) {
						ser.Points = append(ser.Points, [2]float64{float64(p.T) / 1000, p.F})
					}
				}
				r.Series = append(r.Series, ser)
			}
		}
		rq.Close()
		out = append(out, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("writing: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "promql-eval: "+format+"\n", args...)
	os.Exit(1)
}
