package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	kmsv1 "k8s.io/kms/apis/v1beta1"
	kmsv2 "k8s.io/kms/apis/v2"
)

// target is what the scenarios drive: a KMS plugin over its unix socket, or
// (the floor) the same Transit operations sent straight to Vault over HTTP.
type target interface {
	encrypt(ctx context.Context, plain []byte) (cipher []byte, keyID string, err error)
	decrypt(ctx context.Context, cipher []byte, keyID string) ([]byte, error)
	v1Encrypt(ctx context.Context, plain []byte) ([]byte, error)
	v1Decrypt(ctx context.Context, cipher []byte) ([]byte, error)
	// status fails unless the answer says healthz "ok", version "v2" and a key ID.
	status(ctx context.Context) error
	close()
}

// kmsTarget talks to a plugin the way kube-apiserver does: the generated
// k8s.io/kms clients on grpc-go, insecure credentials over a unix socket,
// WaitForReady, one connection (conns > 1 spreads calls round-robin over
// several connections).
type kmsTarget struct {
	conns []*grpc.ClientConn
	v2    []kmsv2.KeyManagementServiceClient
	v1    []kmsv1.KeyManagementServiceClient
	next  atomic.Uint64
}

func dialKMS(socket string, conns int) (*kmsTarget, error) {
	t := &kmsTarget{}
	for i := 0; i < conns; i++ {
		cc, err := grpc.NewClient("unix:"+socket,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", socket)
			}),
		)
		if err != nil {
			t.close()
			return nil, err
		}
		t.conns = append(t.conns, cc)
		t.v2 = append(t.v2, kmsv2.NewKeyManagementServiceClient(cc))
		t.v1 = append(t.v1, kmsv1.NewKeyManagementServiceClient(cc))
	}
	return t, nil
}

func (t *kmsTarget) pick() int {
	if len(t.conns) == 1 {
		return 0
	}
	return int(t.next.Add(1) % uint64(len(t.conns)))
}

func (t *kmsTarget) encrypt(ctx context.Context, plain []byte) ([]byte, string, error) {
	r, err := t.v2[t.pick()].Encrypt(ctx, &kmsv2.EncryptRequest{Plaintext: plain, Uid: "bench"})
	if err != nil {
		return nil, "", err
	}
	if r.KeyId == "" || len(r.Ciphertext) == 0 {
		return nil, "", errors.New("Encrypt returned an empty key_id or ciphertext")
	}
	return r.Ciphertext, r.KeyId, nil
}

func (t *kmsTarget) decrypt(ctx context.Context, cipher []byte, keyID string) ([]byte, error) {
	r, err := t.v2[t.pick()].Decrypt(ctx, &kmsv2.DecryptRequest{Ciphertext: cipher, KeyId: keyID, Uid: "bench"})
	if err != nil {
		return nil, err
	}
	return r.Plaintext, nil
}

func (t *kmsTarget) v1Encrypt(ctx context.Context, plain []byte) ([]byte, error) {
	r, err := t.v1[t.pick()].Encrypt(ctx, &kmsv1.EncryptRequest{Version: "v1beta1", Plain: plain})
	if err != nil {
		return nil, err
	}
	return r.Cipher, nil
}

func (t *kmsTarget) v1Decrypt(ctx context.Context, cipher []byte) ([]byte, error) {
	r, err := t.v1[t.pick()].Decrypt(ctx, &kmsv1.DecryptRequest{Version: "v1beta1", Cipher: cipher})
	if err != nil {
		return nil, err
	}
	return r.Plain, nil
}

func (t *kmsTarget) status(ctx context.Context) error {
	r, err := t.v2[t.pick()].Status(ctx, &kmsv2.StatusRequest{})
	if err != nil {
		return err
	}
	if r.Healthz != "ok" || r.Version != "v2" || r.KeyId == "" {
		return fmt.Errorf("Status not ok: healthz=%q version=%q key_id=%q", r.Healthz, r.Version, r.KeyId)
	}
	return nil
}

func (t *kmsTarget) close() {
	for _, c := range t.conns {
		_ = c.Close()
	}
}

// floorTarget sends each operation as one Transit request straight to Vault
// (net/http, keep-alive, enough idle connections for every call in flight):
// what a call costs with no plugin in between.
type floorTarget struct {
	client *http.Client
	base   string
	token  string
	key    string
}

func newFloor(addr, token, mount, key string, inFlight int) *floorTarget {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = inFlight + 16
	tr.MaxIdleConnsPerHost = inFlight + 16
	return &floorTarget{
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		base:   strings.TrimRight(addr, "/") + "/v1/" + mount,
		token:  token,
		key:    key,
	}
}

func (f *floorTarget) call(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", f.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("vault %s %s: HTTP %d", method, path, res.StatusCode)
	}
	return json.Unmarshal(raw, out)
}

type transitData struct {
	Data struct {
		Ciphertext    string `json:"ciphertext"`
		Plaintext     string `json:"plaintext"`
		KeyVersion    int    `json:"key_version"`
		LatestVersion int    `json:"latest_version"`
	} `json:"data"`
}

func (f *floorTarget) encrypt(ctx context.Context, plain []byte) ([]byte, string, error) {
	var out transitData
	if err := f.call(ctx, "POST", "/encrypt/"+f.key, map[string]string{"plaintext": base64.StdEncoding.EncodeToString(plain)}, &out); err != nil {
		return nil, "", err
	}
	return []byte(out.Data.Ciphertext), fmt.Sprint(out.Data.KeyVersion), nil
}

func (f *floorTarget) decrypt(ctx context.Context, cipher []byte, _ string) ([]byte, error) {
	var out transitData
	if err := f.call(ctx, "POST", "/decrypt/"+f.key, map[string]string{"ciphertext": string(cipher)}, &out); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(out.Data.Plaintext)
}

func (f *floorTarget) v1Encrypt(ctx context.Context, plain []byte) ([]byte, error) {
	c, _, err := f.encrypt(ctx, plain)
	return c, err
}

func (f *floorTarget) v1Decrypt(ctx context.Context, cipher []byte) ([]byte, error) {
	return f.decrypt(ctx, cipher, "")
}

// status of the floor is one key read, the least a Vault-backed Status can do.
func (f *floorTarget) status(ctx context.Context) error {
	var out transitData
	if err := f.call(ctx, "GET", "/keys/"+f.key, nil, &out); err != nil {
		return err
	}
	if out.Data.LatestVersion < 1 {
		return errors.New("key read returned no latest_version")
	}
	return nil
}

func (f *floorTarget) close() { f.client.CloseIdleConnections() }
