package controlplane

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// coldStartResult is one kube-apiserver start over the stored Secrets.
type coldStartResult struct {
	Plugin        string         `json:"plugin"`
	PluginState   string         `json:"plugin_state"` // stateFresh or stateRunning
	Round         int            `json:"round"`
	ListSeconds   float64        `json:"list_seconds"`  // process start -> a list of all Secrets returned
	ReadySeconds  float64        `json:"ready_seconds"` // process start -> /readyz ok
	VaultRequests int            `json:"vault_requests"`
	ByPath        map[string]int `json:"vault_requests_by_path"`
	Secrets       int            `json:"secrets"`
	PluginCPU     float64        `json:"plugin_cpu_seconds"` // user+system CPU of the plugin in the same window
	LoadAverage   string         `json:"load_average"`       // /proc/loadavg when the list returned: the machine is shared
}

// 6. The storm that matters to users: kube-apiserver restarts over many
// stored Secrets and must decrypt them all before its first list returns.
// The same etcd data is read once through our plugin and once through the Go
// plugin, alternating, KMS_CP_BENCH_ROUNDS times. Runs only with KMS_CP_BENCH=1
// (npm run bench:control-plane).
func TestColdStartAtScale(t *testing.T) {
	if os.Getenv("KMS_CP_BENCH") == "" {
		t.Skip("a benchmark: set KMS_CP_BENCH=1 (npm run bench:control-plane)")
	}
	perVersion, _ := strconv.Atoi(getenv("KMS_CP_BENCH_SECRETS", "2000"))
	rounds, _ := strconv.Atoi(getenv("KMS_CP_BENCH_ROUNDS", "3"))
	// Both providers in one config: v2 writes, v1 reads. Then swapped to write
	// the v1 Secrets. Both plugins serve v1 and v2 on one socket.
	both := apiServerOptions{providers: []kmsProvider{providerV2, providerV1}, kmsV1Gate: true}
	c := newCluster(t, clusterOptions{api: both, servesV1: true})

	fill := func(ns string) {
		if err := c.api.createNamespace(ns); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		parallelCreate(t, c, ns, perVersion)
		t.Logf("stored %d Secrets in %s in %s", perVersion, ns, time.Since(start).Round(time.Millisecond))
	}
	fill("bench-v2")
	if err := c.api.writeEncryptionConfig([]kmsProvider{providerV1, providerV2}); err != nil {
		t.Fatal(err)
	}
	if err := c.api.restart(); err != nil {
		t.Fatal(err)
	}
	fill("bench-v1")
	c.api.stop()
	if err := c.api.writeEncryptionConfig([]kmsProvider{providerV2, providerV1}); err != nil {
		t.Fatal(err)
	}
	for ns, p := range map[string]kmsProvider{"bench-v2": providerV2, "bench-v1": providerV1} {
		values, err := c.etcd.rawPrefix("/registry/secrets/" + ns + "/")
		if err != nil {
			t.Fatal(err)
		}
		prefix := "k8s:enc:kms:" + p.apiVersion + ":" + p.name + ":"
		for key, v := range values {
			if !strings.HasPrefix(string(v), prefix) {
				t.Fatalf("%s is not stored with %s", key, prefix)
			}
		}
		if len(values) != perVersion {
			t.Fatalf("%s: %d Secrets in etcd, want %d", ns, len(values), perVersion)
		}
	}
	c.plugin.stop()

	goPlugin, err := newPlugin(pluginGo, filepath.Join(c.dir, "go-plugin"), env.bao, true)
	if err != nil {
		t.Fatal(err)
	}
	goPlugin.socket = c.plugin.socket // the apiserver's config names one socket
	t.Cleanup(goPlugin.stop)

	var results []coldStartResult
	for round := 1; round <= rounds; round++ {
		for _, p := range []*kmsPlugin{c.plugin, goPlugin} {
			// A node restart starts both; an apiserver upgrade or config change
			// restarts only the apiserver while the plugin keeps running.
			if err := p.start(); err != nil {
				t.Fatal(err)
			}
			for _, state := range []string{stateFresh, stateRunning} {
				r := measureColdStart(t, c, p, 2*perVersion)
				r.Round, r.PluginState = round, state
				t.Logf("round %d %s, %s: list of %d Secrets after %.2f s, /readyz after %.2f s, plugin CPU %.2f s, %d Vault requests (%s), load average %s",
					round, r.Plugin, state, r.Secrets, r.ListSeconds, r.ReadySeconds, r.PluginCPU, r.VaultRequests, formatByPath(r.ByPath), r.LoadAverage)
				results = append(results, r)
			}
			p.stop()
		}
	}
	t.Log("\n" + coldStartTable(results, perVersion))
	if out := os.Getenv("KMS_CP_BENCH_OUT"); out != "" {
		data, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	stateFresh   = "plugin just started"
	stateRunning = "plugin already running"
)

// measureColdStart starts kube-apiserver against the running plugin p and
// times the first list of all Secrets that returns every stored one.
func measureColdStart(t *testing.T, c *cluster, p *kmsPlugin, want int) coldStartResult {
	t.Helper()
	// Let the plugin's own start-up requests (login, first key read) land
	// before the mark: they are not part of the storm.
	time.Sleep(2 * time.Second)
	mark, err := env.bao.auditMark()
	if err != nil {
		t.Fatal(err)
	}
	cpuBefore, err := cpuSeconds(p.proc.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.api.start(); err != nil {
		t.Fatal(err)
	}
	defer c.api.stop()
	r := coldStartResult{Plugin: string(p.kind)}
	var listErr error
	if err := waitFor("a list of all Secrets", 600*time.Second, 100*time.Millisecond, func() error {
		list, status, body, err := c.api.listSecrets("")
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			listErr = fmt.Errorf("HTTP %d: %.200s", status, body)
			return listErr
		}
		if len(list.Items) < want {
			return fmt.Errorf("%d of %d Secrets", len(list.Items), want)
		}
		r.Secrets = len(list.Items)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r.ListSeconds = time.Since(c.api.startedAt).Seconds()
	cpuAfter, err := cpuSeconds(p.proc.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	r.PluginCPU = cpuAfter - cpuBefore
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAverage = strings.Join(strings.Fields(string(load))[:3], " ")
	}
	if r.ByPath, r.VaultRequests, err = env.bao.requestsSince(mark); err != nil {
		t.Fatal(err)
	}
	if err := c.api.waitReady(120 * time.Second); err != nil {
		t.Fatal(err)
	}
	r.ReadySeconds = time.Since(c.api.startedAt).Seconds()
	return r
}

// cpuSeconds is the user+system CPU time of a process so far (Linux).
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return (utime + stime) / clockTicks, nil
}

func parallelCreate(t *testing.T, c *cluster, ns string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	next := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := c.api.mustCreateSecret(ns, fmt.Sprintf("s-%05d", i), map[string]string{"key": fmt.Sprintf("bench value %d", i)}); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			close(next)
			wg.Wait()
			t.Fatal(err)
		case next <- i:
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// coldStartTable is the Markdown table docs/benchmarks.md shows.
func coldStartTable(results []coldStartResult, perVersion int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| plugin | kube-apiserver restart with | rounds | list of all %d Secrets (median, s) | /readyz (median, s) | plugin CPU (median, s) | Vault requests (median) | transit/decrypt/kms | other |\n", 2*perVersion)
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, state := range []string{stateFresh, stateRunning} {
		for _, kind := range []pluginKind{pluginOurs, pluginGo} {
			b.WriteString(coldStartRow(results, kind, state))
		}
	}
	return b.String()
}

func coldStartRow(results []coldStartResult, kind pluginKind, state string) string {
	var list, ready, cpu, reqs, dec []float64
	for _, r := range results {
		if r.Plugin != string(kind) || r.PluginState != state {
			continue
		}
		list = append(list, r.ListSeconds)
		ready = append(ready, r.ReadySeconds)
		cpu = append(cpu, r.PluginCPU)
		reqs = append(reqs, float64(r.VaultRequests))
		dec = append(dec, float64(r.ByPath["transit/decrypt/kms"]))
	}
	if len(list) == 0 {
		return ""
	}
	return fmt.Sprintf("| %s | %s | %d | %.2f (%s) | %.2f | %.2f | %.0f | %.0f | %.0f |\n", kind, state, len(list), median(list), joinFloats(list), median(ready), median(cpu), median(reqs), median(dec), median(reqs)-median(dec))
}

func joinFloats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, ", ")
}
