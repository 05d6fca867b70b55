// Command go-upstream-model is a benchmark STAND-IN for the Go plugin
// github.com/FalcoSuessgott/vault-kubernetes-kms.
//
// The real plugin cannot be built here: the Go module proxy answers
// "403 Forbidden — This module version is not available" for every version of
// that module. This program is therefore labelled everywhere as
//
//	Go plugin model (request pattern of upstream v1.4.0, not the real binary)
//
// It reproduces what /work/shared/reference/upstream.md §2-§4 documents about
// upstream v1.4.0, and nothing more:
//
//   - grpc-go server created with grpc.NewServer() and no options, KMS v2 and
//     v1beta1 on one unix socket, one goroutine per RPC, no shared state
//     besides the Vault client (no caching, no de-duplication, no batching);
//   - Encrypt = PUT <mount>/encrypt/<key>, then GET <mount>/keys/<key>
//     (2 Vault requests, also for v1); Decrypt = PUT <mount>/decrypt/<key> (1);
//     Status = GET keys, then Health = Encrypt("health") + Decrypt (4 in all);
//   - Vault HTTP like hashicorp/vault/api: a net/http client with a pooled
//     transport as in hashicorp/go-cleanhttp (MaxIdleConnsPerHost =
//     GOMAXPROCS+1), http.Client.Timeout 10 s per attempt, 60 s per call,
//     X-Vault-Token header, JSON responses decoded with UseNumber, retries of
//     connection errors, 5xx (but 501) and 412 up to 2 times with linear
//     jittered back-off of 1-1.5 s times the attempt number;
//   - a lookup-self before the socket is created; the token refresher loop;
//   - zap JSON logging at Info on every request (sampling 100/100 per second),
//     Prometheus histograms on every request and Vault attempt;
//   - /health and /live that both run the v1 and v2 Health round trips.
//
// Deliberately NOT modelled: other auth methods, TLS options, namespaces.
// The "health endpoints listening" log line (with the bound port) is an
// addition so the benchmark can find a health port bound to 127.0.0.1:0.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	kmsv1 "k8s.io/kms/apis/v1beta1"
	kmsv2 "k8s.io/kms/apis/v2"
)

const modelLabel = "Go plugin model (request pattern of upstream v1.4.0, not the real binary)"

type options struct {
	socket               string
	forceSocketOverwrite bool
	debug                bool
	vaultAddress         string
	authMethod           string
	token                string
	transitMount         string
	transitKey           string
	healthPort           string
	tokenRefresh         time.Duration
	tokenRenewalSeconds  int
	disableV1            bool
	disableV2            bool
}

func parseFlags() (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("go-upstream-model", flag.ContinueOnError)
	fs.StringVar(&o.socket, "socket", envOr("VAULT_KMS_SOCKET", "unix:///opt/kms/vaultkms.socket"), "unix:// socket")
	fs.BoolVar(&o.forceSocketOverwrite, "force-socket-overwrite", false, "remove whatever is at the socket path")
	fs.BoolVar(&o.debug, "debug", false, "debug logging")
	fs.StringVar(&o.vaultAddress, "vault-address", envOr("VAULT_KMS_VAULT_ADDR", ""), "Vault address")
	fs.StringVar(&o.authMethod, "auth-method", envOr("VAULT_KMS_AUTH_METHOD", ""), "only token is modelled")
	fs.StringVar(&o.token, "token", envOr("VAULT_KMS_TOKEN", ""), "Vault token")
	fs.StringVar(&o.transitMount, "transit-mount", "transit", "transit mount")
	fs.StringVar(&o.transitKey, "transit-key", "kms", "transit key")
	fs.StringVar(&o.healthPort, "health-port", "8080", "port, or host:port")
	fs.DurationVar(&o.tokenRefresh, "token-refresh-interval", 60*time.Second, "token check interval")
	fs.IntVar(&o.tokenRenewalSeconds, "token-renewal", 3600, "renew-self increment")
	fs.BoolVar(&o.disableV1, "disable-v1", false, "disable KMS v1beta1")
	fs.BoolVar(&o.disableV2, "disable-v2", false, "disable KMS v2")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return nil, fmt.Errorf("error parsing flags: %w", err)
	}
	switch {
	case o.vaultAddress == "":
		return nil, errors.New("vault address required")
	case strings.ToLower(o.authMethod) != "token":
		return nil, errors.New("invalid auth method (the model supports only token)")
	case o.token == "":
		return nil, errors.New("token required")
	case o.disableV1 && o.disableV2:
		return nil, errors.New("at least one kms plugin version must be enabled")
	}
	return o, nil
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// ---------------------------------------------------------------- metrics

type metrics struct {
	registry         *prometheus.Registry
	encryptDuration  prometheus.Histogram
	decryptDuration  prometheus.Histogram
	encryptErrors    prometheus.Counter
	decryptErrors    prometheus.Counter
	tokenRenewals    prometheus.Counter
	tokenExpiry      prometheus.Gauge
	vaultRequestTime *prometheus.HistogramVec
}

func newMetrics() *metrics {
	const ns = "vault_kubernetes_kms"
	m := &metrics{
		registry:         prometheus.NewRegistry(),
		encryptDuration:  prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "encryption_operation_duration_seconds", Help: "encrypt duration"}),
		decryptDuration:  prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "decryption_operation_duration_seconds", Help: "decrypt duration"}),
		encryptErrors:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "encryption_operation_errors_total", Help: "encrypt errors"}),
		decryptErrors:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "decryption_operation_errors_total", Help: "decrypt errors"}),
		tokenRenewals:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "token_renewals_total", Help: "renewal attempts"}),
		tokenExpiry:      prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "token_expiry_seconds", Help: "token ttl"}),
		vaultRequestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "vault_requests_duration_seconds", Help: "Vault HTTP attempts"}, []string{"method", "path", "status"}),
	}
	m.registry.MustRegister(m.encryptDuration, m.decryptDuration, m.encryptErrors, m.decryptErrors, m.tokenRenewals, m.tokenExpiry, m.vaultRequestTime,
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{Namespace: ns}))
	return m
}

// meteredTransport records one observation per HTTP attempt, like upstream's pkg/http round-tripper.
type meteredTransport struct {
	next http.RoundTripper
	m    *metrics
}

func (t meteredTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.m.vaultRequestTime.WithLabelValues(r.Method, r.URL.Path, status).Observe(time.Since(start).Seconds())
	return resp, err
}

// ---------------------------------------------------------------- Vault client

// pooledTransport is what hashicorp/go-cleanhttp's DefaultPooledTransport builds
// (vault/api's DefaultConfig uses it).
func pooledTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   runtime.GOMAXPROCS(0) + 1,
	}
}

type secret struct {
	RequestID     string                 `json:"request_id"`
	LeaseID       string                 `json:"lease_id"`
	LeaseDuration int                    `json:"lease_duration"`
	Renewable     bool                   `json:"renewable"`
	Data          map[string]interface{} `json:"data"`
	Warnings      []string               `json:"warnings"`
}

type responseError struct {
	method, url string
	status      int
	errs        []string
}

func (e *responseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Error making API request.\n\nURL: %s %s\nCode: %d. Errors:\n\n", e.method, e.url, e.status)
	for _, s := range e.errs {
		fmt.Fprintf(&b, "* %s", s)
	}
	return b.String()
}

type vaultClient struct {
	address     string
	httpClient  *http.Client
	mount, key  string
	maxRetries  int
	callTimeout time.Duration

	mu    sync.RWMutex
	token string
}

func newVaultClient(o *options, m *metrics) *vaultClient {
	return &vaultClient{
		address:     strings.TrimRight(o.vaultAddress, "/"),
		httpClient:  &http.Client{Timeout: 10 * time.Second, Transport: meteredTransport{next: pooledTransport(), m: m}},
		mount:       o.transitMount,
		key:         o.transitKey,
		maxRetries:  2,
		callTimeout: 60 * time.Second,
	}
}

func (c *vaultClient) setToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	return resp.StatusCode == http.StatusPreconditionFailed || (resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented)
}

// backoff is a linear jittered wait: (attempt+1) * a random value in [1 s, 1.5 s).
func backoff(attempt int) time.Duration {
	const minWait, maxWait = 1000 * time.Millisecond, 1500 * time.Millisecond
	jitter := time.Duration(rand.Int64N(int64(maxWait - minWait)))
	return time.Duration(attempt+1) * (minWait + jitter)
}

// request sends one logical Vault request with vault/api's retry behaviour.
// A 404 on a GET returns (nil, nil), as Logical().Read does.
func (c *vaultClient) request(ctx context.Context, method, path string, body interface{}) (*secret, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	c.mu.RLock()
	token := c.token
	c.mu.RUnlock()
	url := c.address + "/v1/" + path
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-Vault-Token", token)
		req.Header.Set("X-Vault-Request", "true")
		resp, err := c.httpClient.Do(req)
		if retryable(resp, err) && attempt < c.maxRetries && ctx.Err() == nil {
			if resp != nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			select {
			case <-time.After(backoff(attempt)):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err != nil {
			return nil, err
		}
		return c.parse(method, url, resp)
	}
}

func (c *vaultClient) parse(method, url string, resp *http.Response) (*secret, error) {
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && method == http.MethodGet {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, nil
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Errors []string `json:"errors"`
		}
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &eb)
		return nil, &responseError{method: method, url: url, status: resp.StatusCode, errs: eb.Errors}
	}
	var s secret
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	return &s, nil
}

func (c *vaultClient) lookupSelf(ctx context.Context) (*secret, error) {
	return c.request(ctx, http.MethodGet, "auth/token/lookup-self", nil)
}

// Encrypt is upstream's: PUT encrypt, then GET keys for the key version.
func (c *vaultClient) Encrypt(ctx context.Context, data []byte) ([]byte, string, error) {
	s, err := c.request(ctx, http.MethodPut, c.mount+"/encrypt/"+c.key, map[string]interface{}{"plaintext": base64.StdEncoding.EncodeToString(data)})
	if err != nil {
		return nil, "", err
	}
	if s == nil {
		return nil, "", errors.New("invalid response")
	}
	ct, ok := s.Data["ciphertext"].(string)
	if !ok {
		return nil, "", errors.New("invalid response")
	}
	kv, err := c.GetKeyVersion(ctx)
	if err != nil {
		return nil, "", err
	}
	return []byte(ct), kv, nil
}

func (c *vaultClient) Decrypt(ctx context.Context, data []byte) ([]byte, error) {
	s, err := c.request(ctx, http.MethodPut, c.mount+"/decrypt/"+c.key, map[string]interface{}{"ciphertext": string(data)})
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("invalid response")
	}
	pt, ok := s.Data["plaintext"].(string)
	if !ok {
		return nil, errors.New("invalid response")
	}
	return base64.StdEncoding.DecodeString(pt)
}

func (c *vaultClient) GetKeyVersion(ctx context.Context) (string, error) {
	s, err := c.request(ctx, http.MethodGet, c.mount+"/keys/"+c.key, nil)
	if err != nil {
		return "", err
	}
	if s == nil {
		return "", fmt.Errorf("could not read transit key: %s/%s. Check transit engine and key and permissions", c.mount, c.key)
	}
	v, ok := s.Data["latest_version"].(json.Number)
	if !ok {
		return "", fmt.Errorf("could not get latest_version of transit key %s/%s", c.mount, c.key)
	}
	return v.String(), nil
}

// Health is an encrypt/decrypt round trip of "health" (3 Vault requests).
func (c *vaultClient) Health(ctx context.Context) error {
	enc, _, err := c.Encrypt(ctx, []byte("health"))
	if err != nil {
		return err
	}
	dec, err := c.Decrypt(ctx, enc)
	if err != nil {
		return err
	}
	if string(dec) != "health" {
		return errors.New("health check failed")
	}
	return nil
}

// ---------------------------------------------------------------- gRPC servers

type pluginV2 struct {
	kmsv2.UnimplementedKeyManagementServiceServer
	c   *vaultClient
	m   *metrics
	log *zap.Logger
}

func (p *pluginV2) Status(ctx context.Context, _ *kmsv2.StatusRequest) (*kmsv2.StatusResponse, error) {
	kv, err := p.c.GetKeyVersion(ctx)
	if err != nil {
		return nil, err
	}
	healthz := "ok"
	if err := p.c.Health(ctx); err != nil {
		healthz = "err"
		p.log.Info("failed to perform health check", zap.Error(err))
	}
	p.log.Info("health status", zap.String("key_id", kv), zap.String("healthz", healthz), zap.String("version", "v2"))
	return &kmsv2.StatusResponse{Version: "v2", Healthz: healthz, KeyId: kv}, nil
}

func (p *pluginV2) Encrypt(ctx context.Context, req *kmsv2.EncryptRequest) (*kmsv2.EncryptResponse, error) {
	start := time.Now()
	defer func() { p.m.encryptDuration.Observe(time.Since(start).Seconds()) }()
	p.log.Info("v2 encryption request", zap.String("request_id", req.Uid))
	ct, kv, err := p.c.Encrypt(ctx, req.Plaintext)
	if err != nil {
		p.m.encryptErrors.Inc()
		return nil, err
	}
	return &kmsv2.EncryptResponse{Ciphertext: ct, KeyId: kv}, nil
}

func (p *pluginV2) Decrypt(ctx context.Context, req *kmsv2.DecryptRequest) (*kmsv2.DecryptResponse, error) {
	start := time.Now()
	defer func() { p.m.decryptDuration.Observe(time.Since(start).Seconds()) }()
	p.log.Info("v2 decryption request", zap.String("request_id", req.Uid))
	pt, err := p.c.Decrypt(ctx, req.Ciphertext)
	if err != nil {
		p.m.decryptErrors.Inc()
		return nil, err
	}
	return &kmsv2.DecryptResponse{Plaintext: pt}, nil
}

type pluginV1 struct {
	kmsv1.UnimplementedKeyManagementServiceServer
	c   *vaultClient
	m   *metrics
	log *zap.Logger
}

func (p *pluginV1) Version(context.Context, *kmsv1.VersionRequest) (*kmsv1.VersionResponse, error) {
	return &kmsv1.VersionResponse{Version: "v1beta1", RuntimeName: "vault", RuntimeVersion: "0.0.1"}, nil
}

func (p *pluginV1) Encrypt(ctx context.Context, req *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	start := time.Now()
	defer func() { p.m.encryptDuration.Observe(time.Since(start).Seconds()) }()
	p.log.Info("v1 encryption request")
	ct, _, err := p.c.Encrypt(ctx, req.Plain)
	if err != nil {
		p.m.encryptErrors.Inc()
		return nil, err
	}
	return &kmsv1.EncryptResponse{Cipher: ct}, nil
}

func (p *pluginV1) Decrypt(ctx context.Context, req *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	start := time.Now()
	defer func() { p.m.decryptDuration.Observe(time.Since(start).Seconds()) }()
	p.log.Info("v1 decryption request")
	pt, err := p.c.Decrypt(ctx, req.Cipher)
	if err != nil {
		p.m.decryptErrors.Inc()
		return nil, err
	}
	return &kmsv1.DecryptResponse{Plain: pt}, nil
}

// ---------------------------------------------------------------- process

func newLogger(debug bool) *zap.Logger {
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	if debug {
		level = zap.NewAtomicLevelAt(zapcore.DebugLevel)
	}
	cfg := zap.Config{
		Level:            level,
		Development:      false,
		Sampling:         &zap.SamplingConfig{Initial: 100, Thereafter: 100},
		Encoding:         "json",
		OutputPaths:      []string{"stdout"},
		ErrorOutputPaths: []string{"stderr"},
		EncoderConfig: zapcore.EncoderConfig{
			TimeKey:        "timestamp",
			LevelKey:       "level",
			NameKey:        "logger",
			CallerKey:      "caller",
			MessageKey:     "message",
			StacktraceKey:  "stacktrace",
			LineEnding:     zapcore.DefaultLineEnding,
			EncodeLevel:    zapcore.LowercaseLevelEncoder,
			EncodeTime:     zapcore.ISO8601TimeEncoder,
			EncodeDuration: zapcore.SecondsDurationEncoder,
			EncodeCaller:   zapcore.ShortCallerEncoder,
		},
	}
	l, err := cfg.Build()
	if err != nil {
		panic(err)
	}
	return l
}

// refreshToken is upstream's lease refresher: lookup-self every interval, renew below half the creation TTL.
func refreshToken(ctx context.Context, c *vaultClient, o *options, m *metrics, log *zap.Logger) {
	t := time.NewTicker(o.tokenRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("token refresher shutting down")
			return
		case <-t.C:
		}
		log.Info("checking token renewal")
		s, err := c.lookupSelf(ctx)
		if err != nil || s == nil {
			log.Error("failed to lookup token", zap.Error(err))
			continue
		}
		ttl, err1 := toInt(s.Data["ttl"])
		creation, err2 := toInt(s.Data["creation_ttl"])
		if err1 != nil || err2 != nil {
			log.Error("cannot parse token ttl")
			continue
		}
		m.tokenExpiry.Set(float64(ttl))
		if ttl < creation/2 {
			m.tokenRenewals.Inc()
			if _, err := c.request(ctx, http.MethodPut, "auth/token/renew-self", map[string]interface{}{"increment": o.tokenRenewalSeconds}); err != nil {
				log.Error("failed to renew token", zap.Error(err))
			}
			continue
		}
		log.Info("skipping token renewal")
	}
}

func toInt(v interface{}) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, errors.New("not a number")
	}
	return n.Int64()
}

func healthHandler(probes []func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, probe := range probes {
			if err := probe(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("OK"))
	}
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	log := newLogger(o.debug)
	defer func() { _ = log.Sync() }()
	log.Info("starting kms plugin", zap.String("model", modelLabel), zap.String("socket", o.socket), zap.String("vault-address", o.vaultAddress),
		zap.String("transit-engine", o.transitMount), zap.String("transit-key", o.transitKey), zap.Bool("disable-v1", o.disableV1), zap.Bool("disable-v2", o.disableV2))

	m := newMetrics()
	c := newVaultClient(o, m)
	c.setToken(o.token)
	if _, err := c.lookupSelf(context.Background()); err != nil {
		log.Fatal("Failed to create vault client", zap.Error(fmt.Errorf("failed to connect to vault: %w", err)))
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go refreshToken(ctx, c, o, m, log)

	if !strings.HasPrefix(strings.ToLower(o.socket), "unix://") {
		log.Fatal("Cannot create socket", zap.Error(errors.New("path missing")))
	}
	path := strings.SplitN(o.socket, "://", 2)[1]
	if path == "" {
		log.Fatal("Cannot create socket", zap.Error(errors.New("path missing")))
	}
	if _, err := os.Stat(path); err == nil {
		log.Info("Socket already exists", zap.String("path", path))
		if o.forceSocketOverwrite {
			_ = os.Remove(path)
		}
	}
	listener, err := (&net.ListenConfig{}).Listen(ctx, "unix", path)
	if err != nil {
		log.Fatal("failed to listen on socket", zap.Error(err))
	}

	grpcServer := grpc.NewServer()
	var probes []func(context.Context) error
	if !o.disableV1 {
		kmsv1.RegisterKeyManagementServiceServer(grpcServer, &pluginV1{c: c, m: m, log: log})
		probes = append(probes, c.Health)
	}
	if !o.disableV2 {
		kmsv2.RegisterKeyManagementServiceServer(grpcServer, &pluginV2{c: c, m: m, log: log})
		probes = append(probes, c.Health)
	}

	mux := http.NewServeMux()
	mux.Handle("/health", healthHandler(probes))
	mux.Handle("/live", healthHandler(probes))
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	addr := o.healthPort
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	healthListener, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal("failed to start health server", zap.Error(err))
	}
	httpServer := &http.Server{Handler: mux, ReadHeaderTimeout: 3 * time.Second}
	log.Info("health endpoints listening", zap.Int("port", healthListener.Addr().(*net.TCPAddr).Port))
	go func() {
		if err := httpServer.Serve(healthListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal("health server failed", zap.Error(err))
		}
	}()
	go func() {
		if err := grpcServer.Serve(listener); err != nil {
			log.Fatal("grpc server failed", zap.Error(err))
		}
	}()
	log.Info("listening for kube-apiserver", zap.String("socket", o.socket))

	<-ctx.Done()
	log.Info("Shutting down server")
	shutdownCtx, stop := context.WithTimeout(context.Background(), 3*time.Second)
	defer stop()
	_ = httpServer.Shutdown(shutdownCtx)
	grpcServer.GracefulStop()
	log.Info("Exiting...")
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
