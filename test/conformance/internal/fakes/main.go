//go:build fakes

// Command fakes is a tiny stand-in for the real plugin and the Vault test
// server, used only to self-test the conformance harness (and to show that it
// fails when a contract rule is broken). Build with:
//
//	go build -tags fakes -o /tmp/kms-fakes ./internal/fakes
//
// `kms-fakes vault --port 0` behaves like proxied OpenBao (test/support/proxied-openbao-cli.ts) (JSON line on
// stdout, /_test/seal|unseal|stats, transit keys/encrypt/decrypt/rotate).
// `kms-fakes -vault-address=... -token=... -socket=unix://...` behaves like the
// plugin (KMS v2 + v1beta1 on one unix socket).
//
// FAKE_KMS_BREAK selects one deliberate contract violation:
//
//	status-version-v3  Status.version = "v3"
//	keyid-mismatch     Encrypt returns a key_id different from Status
//	sealed-healthy     Status keeps reporting healthz "ok" while Vault is sealed
package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	kmsv1 "k8s.io/kms/apis/v1beta1"
	kmsv2 "k8s.io/kms/apis/v2"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "vault" {
		vaultMain(os.Args[2:])
		return
	}
	pluginMain(os.Args[1:])
}

// ---------------------------------------------------------------- fake Vault

type fakeVault struct {
	mu       sync.Mutex
	sealed   bool
	version  int
	secret   []byte
	root     string
	kmsToken string
	stats    map[string]int
}

func (v *fakeVault) aead(version int) cipher.AEAD {
	k := sha256.Sum256(append(append([]byte{}, v.secret...), []byte(strconv.Itoa(version))...))
	b, _ := aes.NewCipher(k[:])
	g, _ := cipher.NewGCM(b)
	return g
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func vaultErr(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string][]string{"errors": {msg}})
}

func (v *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stats[r.Method+" "+r.URL.Path]++
	switch r.URL.Path {
	case "/_test/seal":
		v.sealed = true
		w.WriteHeader(204)
		return
	case "/_test/unseal":
		v.sealed = false
		w.WriteHeader(204)
		return
	case "/_test/stats":
		writeJSON(w, 200, map[string]any{"sealed": v.sealed, "latestVersion": v.version, "requests": v.stats})
		return
	}
	if v.sealed {
		vaultErr(w, 503, "Vault is sealed")
		return
	}
	tok := r.Header.Get("X-Vault-Token")
	if tok != v.root && tok != v.kmsToken {
		vaultErr(w, 403, "permission denied")
		return
	}
	var in struct {
		Plaintext  string `json:"plaintext"`
		Ciphertext string `json:"ciphertext"`
		KeyVersion int    `json:"key_version"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	switch r.URL.Path {
	case "/v1/transit/keys/kms":
		writeJSON(w, 200, map[string]any{"data": map[string]any{"latest_version": v.version, "min_decryption_version": 1}})
	case "/v1/transit/keys/kms/rotate":
		if tok != v.root {
			vaultErr(w, 403, "permission denied")
			return
		}
		v.version++
		writeJSON(w, 200, map[string]any{"data": map[string]any{"latest_version": v.version}})
	case "/v1/transit/encrypt/kms":
		ver := v.version
		if in.KeyVersion != 0 {
			ver = in.KeyVersion
		}
		pt, err := base64.StdEncoding.DecodeString(in.Plaintext)
		if err != nil || ver > v.version {
			vaultErr(w, 400, "bad request")
			return
		}
		g := v.aead(ver)
		nonce := make([]byte, g.NonceSize())
		_, _ = rand.Read(nonce)
		ct := fmt.Sprintf("vault:v%d:%s", ver, base64.StdEncoding.EncodeToString(g.Seal(nonce, nonce, pt, nil)))
		writeJSON(w, 200, map[string]any{"data": map[string]any{"ciphertext": ct, "key_version": ver}})
	case "/v1/transit/decrypt/kms":
		parts := strings.SplitN(in.Ciphertext, ":", 3)
		if len(parts) != 3 || parts[0] != "vault" {
			vaultErr(w, 400, "invalid ciphertext")
			return
		}
		ver, _ := strconv.Atoi(strings.TrimPrefix(parts[1], "v"))
		raw, err := base64.StdEncoding.DecodeString(parts[2])
		if err != nil || ver < 1 || ver > v.version || len(raw) < 12 {
			vaultErr(w, 400, "invalid ciphertext")
			return
		}
		g := v.aead(ver)
		pt, err := g.Open(nil, raw[:12], raw[12:], nil)
		if err != nil {
			vaultErr(w, 400, "cipher: message authentication failed")
			return
		}
		writeJSON(w, 200, map[string]any{"data": map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)}})
	default:
		vaultErr(w, 404, "no handler for route")
	}
}

func vaultMain(args []string) {
	fs := flag.NewFlagSet("vault", flag.ExitOnError)
	port := fs.Int("port", 0, "listen port")
	_ = fs.Parse(args)
	v := &fakeVault{version: 1, secret: make([]byte, 32), stats: map[string]int{}, root: "root-" + randTok(), kmsToken: "kms-" + randTok()}
	_, _ = rand.Read(v.secret)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	line, _ := json.Marshal(map[string]string{"url": "http://" + ln.Addr().String(), "rootToken": v.root, "kmsToken": v.kmsToken, "roleId": "role", "secretId": "secret"})
	fmt.Println(string(line))
	srv := &http.Server{Handler: v}
	go func() { _ = srv.Serve(ln) }()
	waitSignal()
	_ = srv.Close()
}

func randTok() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func waitSignal() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}

// ---------------------------------------------------------------- fake plugin

type plugin struct {
	addr, token, brk string
	mu               sync.Mutex
	version          int
	healthErr        error
	client           http.Client
}

func (p *plugin) vault(ctx context.Context, method, path string, in any, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.addr+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", p.token)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("vault %s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

func (p *plugin) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var r struct {
		Data struct {
			LatestVersion int `json:"latest_version"`
		} `json:"data"`
	}
	err := p.vault(ctx, "GET", "/v1/transit/keys/kms", nil, &r)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.healthErr = err
	if err == nil {
		p.version = r.Data.LatestVersion
	}
}

func keyID(v int) string { return fmt.Sprintf("fake-transit-kms-v%d", v) }

func (p *plugin) encrypt(ctx context.Context, plain []byte) (string, int, error) {
	p.mu.Lock()
	ver := p.version
	p.mu.Unlock()
	if p.brk == "keyid-mismatch" {
		ver = 0 // let Vault pick its latest version; report it
	}
	var r struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
			KeyVersion int    `json:"key_version"`
		} `json:"data"`
	}
	err := p.vault(ctx, "POST", "/v1/transit/encrypt/kms", map[string]any{"plaintext": base64.StdEncoding.EncodeToString(plain), "key_version": ver}, &r)
	if err != nil {
		return "", 0, status.Error(codes.Unavailable, err.Error())
	}
	return r.Data.Ciphertext, r.Data.KeyVersion, nil
}

func (p *plugin) decrypt(ctx context.Context, ct []byte) ([]byte, error) {
	var r struct {
		Data struct {
			Plaintext string `json:"plaintext"`
		} `json:"data"`
	}
	if err := p.vault(ctx, "POST", "/v1/transit/decrypt/kms", map[string]any{"ciphertext": string(ct)}, &r); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return base64.StdEncoding.DecodeString(r.Data.Plaintext)
}

type v2server struct {
	kmsv2.UnimplementedKeyManagementServiceServer
	p *plugin
}

func (s *v2server) Status(ctx context.Context, _ *kmsv2.StatusRequest) (*kmsv2.StatusResponse, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	ver := "v2"
	if s.p.brk == "status-version-v3" {
		ver = "v3"
	}
	h := "ok"
	if s.p.healthErr != nil && s.p.brk != "sealed-healthy" {
		h = "vault unavailable: " + s.p.healthErr.Error()
	}
	return &kmsv2.StatusResponse{Version: ver, Healthz: h, KeyId: keyID(s.p.version)}, nil
}

func (s *v2server) Encrypt(ctx context.Context, r *kmsv2.EncryptRequest) (*kmsv2.EncryptResponse, error) {
	ct, v, err := s.p.encrypt(ctx, r.Plaintext)
	if err != nil {
		return nil, err
	}
	if s.p.brk == "keyid-mismatch" {
		v++
	}
	return &kmsv2.EncryptResponse{Ciphertext: []byte(ct), KeyId: keyID(v), Annotations: map[string][]byte{"fake.kms.example.com": []byte("1")}}, nil
}

func (s *v2server) Decrypt(ctx context.Context, r *kmsv2.DecryptRequest) (*kmsv2.DecryptResponse, error) {
	if !strings.HasPrefix(r.KeyId, "fake-transit-kms-v") {
		return nil, status.Error(codes.InvalidArgument, "unknown key_id")
	}
	pt, err := s.p.decrypt(ctx, r.Ciphertext)
	if err != nil {
		return nil, err
	}
	return &kmsv2.DecryptResponse{Plaintext: pt}, nil
}

type v1server struct {
	kmsv1.UnimplementedKeyManagementServiceServer
	p *plugin
}

func (s *v1server) Version(context.Context, *kmsv1.VersionRequest) (*kmsv1.VersionResponse, error) {
	return &kmsv1.VersionResponse{Version: "v1beta1", RuntimeName: "fake", RuntimeVersion: "0.0.1"}, nil
}

func (s *v1server) Encrypt(ctx context.Context, r *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	ct, _, err := s.p.encrypt(ctx, r.Plain)
	if err != nil {
		return nil, err
	}
	return &kmsv1.EncryptResponse{Cipher: []byte(ct)}, nil
}

func (s *v1server) Decrypt(ctx context.Context, r *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	pt, err := s.p.decrypt(ctx, r.Cipher)
	if err != nil {
		return nil, err
	}
	return &kmsv1.DecryptResponse{Plain: pt}, nil
}

func pluginMain(args []string) {
	fs := flag.NewFlagSet("plugin", flag.ExitOnError)
	addr := fs.String("vault-address", "", "")
	token := fs.String("token", "", "")
	socket := fs.String("socket", "unix:///opt/kms/vaultkms.socket", "")
	fs.String("auth-method", "token", "")
	fs.String("health-port", ":8080", "")
	fs.String("disable-v1", "true", "")
	_ = fs.Parse(args)
	u, err := url.Parse(*socket)
	if err != nil || u.Scheme != "unix" {
		fmt.Fprintln(os.Stderr, "bad -socket", *socket)
		os.Exit(1)
	}
	p := &plugin{addr: *addr, token: *token, brk: os.Getenv("FAKE_KMS_BREAK"), client: http.Client{Timeout: 3 * time.Second}}
	p.refresh()
	go func() {
		for range time.Tick(time.Second) {
			p.refresh()
		}
	}()
	_ = os.Remove(u.Path)
	ln, err := net.Listen("unix", u.Path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	kmsv2.RegisterKeyManagementServiceServer(s, &v2server{p: p})
	kmsv1.RegisterKeyManagementServiceServer(s, &v1server{p: p})
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	fmt.Printf(`{"level":"info","msg":"fake plugin listening","socket":%q,"break":%q}`+"\n", u.Path, p.brk)
	waitSignal()
	s.Stop()
	_ = os.Remove(u.Path)
}
