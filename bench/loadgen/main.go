// Command loadgen drives a KMS plugin through the k8s.io/kms generated gRPC
// clients (what kube-apiserver uses) and prints one JSON result on stdout.
// Each invocation does one thing, so the caller can count Vault requests per
// step:
//
//	loadgen latency   -op encrypt|decrypt|status -n N -warmup W [-in F] [-out F]
//	loadgen prepare   -api v2|v1 -n N -concurrency C -out F
//	loadgen storm     -api v2|v1 -in F -n N -concurrency C
//	loadgen sustained -in F -duration D -concurrency C
//	loadgen startup   -socket S -timeout D -- CMD ARGS...
//
// The target is -socket PATH (a plugin; -conns N connections, default 1), or
// -floor-vault URL -floor-token T (Transit straight over HTTP).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type entry struct {
	Plain  []byte `json:"p"`
	Cipher []byte `json:"c"`
	KeyID  string `json:"k,omitempty"`
}

type stats struct {
	Count  int     `json:"count"`
	P50    float64 `json:"p50Ms"`
	P90    float64 `json:"p90Ms"`
	P99    float64 `json:"p99Ms"`
	Max    float64 `json:"maxMs"`
	Mean   float64 `json:"meanMs"`
	Errors int     `json:"errors"`
}

type result struct {
	Mode      string           `json:"mode"`
	Op        string           `json:"op,omitempty"`
	API       string           `json:"api,omitempty"`
	Conns     int              `json:"conns"`
	InFlight  int              `json:"inFlight"`
	WallMs    float64          `json:"wallMs"`
	OpsPerSec float64          `json:"opsPerSec,omitempty"`
	Latency   stats            `json:"latency"`
	ByOp      map[string]stats `json:"byOp,omitempty"`
	FirstErr  string           `json:"firstError,omitempty"`
	StartupMs float64          `json:"startupMs,omitempty"`
	SocketMs  float64          `json:"socketMs,omitempty"`
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

func summarize(ms []float64, errs int) stats {
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	st := stats{Count: len(s), Errors: errs, P50: percentile(s, 50), P90: percentile(s, 90), P99: percentile(s, 99)}
	if len(s) > 0 {
		st.Max = s[len(s)-1]
		st.Mean = sum / float64(len(s))
	}
	return st
}

func since(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

func randomDEK() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

func readEntries(path string) ([]entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no entries", path)
	}
	return out, sc.Err()
}

func writeEntries(path string, es []entry) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range es {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// closedLoop runs op(0..n-1) with at most inFlight calls outstanding and
// returns each call's latency in ms (failed calls excluded) and the errors.
func closedLoop(n, inFlight int, op func(i int) error) ([]float64, int, string, float64) {
	lat := make([]float64, n)
	ok := make([]bool, n)
	var next atomic.Int64
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < inFlight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat[i] = since(t0)
				ok[i] = true
			}
		}()
	}
	wg.Wait()
	wall := since(start)
	good := lat[:0:0]
	for i, v := range lat {
		if ok[i] {
			good = append(good, v)
		}
	}
	fe, _ := firstErr.Load().(string)
	return good, int(errs.Load()), fe, wall
}

func checkPlain(got, want []byte) error {
	if !bytes.Equal(got, want) {
		return errors.New("Decrypt returned a different plaintext")
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen latency|prepare|storm|sustained|startup [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	socket := fs.String("socket", "", "unix socket of the KMS plugin")
	conns := fs.Int("conns", 1, "gRPC connections (kube-apiserver uses 1)")
	floorVault := fs.String("floor-vault", "", "Vault address: measure Transit over HTTP directly instead of a plugin")
	floorToken := fs.String("floor-token", "", "Vault token for -floor-vault")
	floorMount := fs.String("floor-mount", "transit", "Transit mount for -floor-vault")
	floorKey := fs.String("floor-key", "kms", "Transit key for -floor-vault")
	op := fs.String("op", "decrypt", "latency: encrypt, decrypt or status")
	api := fs.String("api", "v2", "prepare/storm: v2 or v1")
	n := fs.Int("n", 1000, "calls")
	warmup := fs.Int("warmup", 100, "latency: untimed calls first")
	skip := fs.Int("skip", 0, "latency decrypt: leave out the first entries of -in (decrypted by an earlier run)")
	inFlight := fs.Int("concurrency", 1, "calls in flight")
	in := fs.String("in", "", "entries file to read")
	out := fs.String("out", "", "entries file to write")
	duration := fs.Duration("duration", 10*time.Second, "sustained: how long")
	deadline := fs.Duration("deadline", 30*time.Second, "per-call deadline")
	timeout := fs.Duration("timeout", 10*time.Second, "startup: give up after")
	_ = fs.Parse(os.Args[2:])

	if mode == "startup" {
		emit(startup(*socket, *timeout, fs.Args()))
		return
	}

	var t target
	switch {
	case *floorVault != "":
		t = newFloor(*floorVault, *floorToken, *floorMount, *floorKey, max(*inFlight, 1))
	case *socket != "":
		kt, err := dialKMS(*socket, *conns)
		if err != nil {
			fail(err)
		}
		t = kt
	default:
		fail(errors.New("give -socket or -floor-vault"))
	}
	defer t.close()
	ctxFor := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), *deadline)
	}

	res := result{Mode: mode, Conns: *conns, InFlight: *inFlight}
	switch mode {
	case "latency":
		res.Op = *op
		res.InFlight = 1
		var entries []entry
		var call func(i int) error
		total := *n + *warmup
		switch *op {
		case "encrypt":
			entries = make([]entry, total)
			call = func(i int) error {
				ctx, cancel := ctxFor()
				defer cancel()
				p := randomDEK()
				c, k, err := t.encrypt(ctx, p)
				entries[i] = entry{Plain: p, Cipher: c, KeyID: k}
				return err
			}
		case "decrypt":
			es, err := readEntries(*in)
			if err != nil {
				fail(err)
			}
			if *skip > 0 && *skip < len(es) {
				es = es[*skip:]
			}
			if len(es) < total {
				fail(fmt.Errorf("%s holds %d entries, need %d distinct ciphertexts", *in, len(es), total))
			}
			call = func(i int) error {
				ctx, cancel := ctxFor()
				defer cancel()
				p, err := t.decrypt(ctx, es[i].Cipher, es[i].KeyID)
				if err != nil {
					return err
				}
				return checkPlain(p, es[i].Plain)
			}
		case "status":
			call = func(int) error {
				ctx, cancel := ctxFor()
				defer cancel()
				return t.status(ctx)
			}
		default:
			fail(fmt.Errorf("unknown -op %q", *op))
		}
		for i := 0; i < *warmup; i++ {
			if err := call(i); err != nil {
				fail(fmt.Errorf("warm-up %s: %w", *op, err))
			}
		}
		lat, errs, fe, wall := closedLoop(*n, 1, func(i int) error { return call(*warmup + i) })
		res.Latency, res.FirstErr, res.WallMs = summarize(lat, errs), fe, wall
		if *out != "" && entries != nil {
			if err := writeEntries(*out, entries); err != nil {
				fail(err)
			}
		}

	case "prepare":
		res.API = *api
		entries := make([]entry, *n)
		lat, errs, fe, wall := closedLoop(*n, *inFlight, func(i int) error {
			ctx, cancel := ctxFor()
			defer cancel()
			p := randomDEK()
			var c []byte
			var k string
			var err error
			if *api == "v1" {
				c, err = t.v1Encrypt(ctx, p)
			} else {
				c, k, err = t.encrypt(ctx, p)
			}
			entries[i] = entry{Plain: p, Cipher: c, KeyID: k}
			return err
		})
		res.Latency, res.FirstErr, res.WallMs = summarize(lat, errs), fe, wall
		if errs > 0 {
			fail(fmt.Errorf("prepare: %d Encrypts failed, first: %s", errs, fe))
		}
		if err := writeEntries(*out, entries); err != nil {
			fail(err)
		}

	case "storm":
		res.API = *api
		es, err := readEntries(*in)
		if err != nil {
			fail(err)
		}
		lat, errs, fe, wall := closedLoop(*n, *inFlight, func(i int) error {
			e := es[i%len(es)]
			ctx, cancel := ctxFor()
			defer cancel()
			var p []byte
			var err error
			if *api == "v1" {
				p, err = t.v1Decrypt(ctx, e.Cipher)
			} else {
				p, err = t.decrypt(ctx, e.Cipher, e.KeyID)
			}
			if err != nil {
				return err
			}
			return checkPlain(p, e.Plain)
		})
		res.Latency, res.FirstErr, res.WallMs = summarize(lat, errs), fe, wall
		res.OpsPerSec = float64(len(lat)) / (wall / 1000)

	case "sustained":
		es, err := readEntries(*in)
		if err != nil {
			fail(err)
		}
		res.ByOp = map[string]stats{}
		var mu sync.Mutex
		lats := map[string][]float64{}
		errsBy := map[string]int{}
		var firstErr string
		stop := time.Now().Add(*duration)
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < *inFlight; w++ {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				rng := mrand.New(mrand.NewPCG(seed, 7))
				local := map[string][]float64{}
				localErr := map[string]int{}
				var fe string
				for time.Now().Before(stop) {
					roll := rng.IntN(100)
					ctx, cancel := ctxFor()
					t0 := time.Now()
					var name string
					var err error
					switch {
					case roll < 90:
						name = "decrypt"
						e := es[rng.IntN(len(es))]
						var p []byte
						if p, err = t.decrypt(ctx, e.Cipher, e.KeyID); err == nil {
							err = checkPlain(p, e.Plain)
						}
					case roll < 99:
						name = "encrypt"
						_, _, err = t.encrypt(ctx, randomDEK())
					default:
						name = "status"
						err = t.status(ctx)
					}
					d := since(t0)
					cancel()
					if err != nil {
						localErr[name]++
						if fe == "" {
							fe = err.Error()
						}
						continue
					}
					local[name] = append(local[name], d)
				}
				mu.Lock()
				for k, v := range local {
					lats[k] = append(lats[k], v...)
				}
				for k, v := range localErr {
					errsBy[k] += v
				}
				if firstErr == "" {
					firstErr = fe
				}
				mu.Unlock()
			}(uint64(w) + 1)
		}
		wg.Wait()
		res.WallMs = since(start)
		var all []float64
		errs := 0
		for _, name := range []string{"decrypt", "encrypt", "status"} {
			res.ByOp[name] = summarize(lats[name], errsBy[name])
			all = append(all, lats[name]...)
			errs += errsBy[name]
		}
		res.Latency, res.FirstErr = summarize(all, errs), firstErr
		res.OpsPerSec = float64(len(all)) / (res.WallMs / 1000)

	default:
		fail(fmt.Errorf("unknown mode %q", mode))
	}
	emit(res)
}

// startup spawns the command and measures the time from spawn to the first
// Status that says ok (polling every millisecond), then stops the process.
func startup(socket string, timeout time.Duration, argv []string) result {
	if socket == "" || len(argv) == 0 {
		fail(errors.New("startup needs -socket and a command after --"))
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	var t *kmsTarget
	var socketMs float64
	for {
		if time.Since(start) > timeout {
			fail(fmt.Errorf("no ok Status within %s; output:\n%s", timeout, logs.String()))
		}
		select {
		case <-exited:
			fail(fmt.Errorf("process exited during start-up:\n%s", logs.String()))
		default:
		}
		if t == nil {
			if _, err := os.Stat(socket); err == nil {
				socketMs = since(start)
				kt, err := dialKMS(socket, 1)
				if err != nil {
					fail(err)
				}
				t = kt
				defer t.close()
			}
		}
		if t != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			err := t.status(ctx)
			cancel()
			if err == nil {
				return result{Mode: "startup", Conns: 1, InFlight: 1, StartupMs: since(start), SocketMs: socketMs}
			}
		}
		time.Sleep(time.Millisecond)
	}
}

func emit(r result) {
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
