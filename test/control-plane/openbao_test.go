package controlplane

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// openBao is a real OpenBao server (or HashiCorp Vault's, with KMS_CP_SERVER=vault:
// both take the same configuration and API), not in dev mode: in-memory storage,
// initialised and unsealed through sys/init and sys/unseal, so the suite can
// seal and unseal it. A file audit device logs one JSON line per request and per
// response: that is how the suite counts the requests Vault really received.
// OpenBao declares it in its config file (its API refuses to enable audit devices
// by default); Vault has no such stanza and enables it through sys/audit.
type openBao struct {
	addr        string
	rootToken   string
	unsealKey   string
	pluginToken string
	auditPath   string
	proc        *process
}

// serverName names a KMS_CP_SERVER kind in messages.
func serverName(kind string) string {
	if kind == "vault" {
		return "Vault"
	}
	return "OpenBao"
}

func startOpenBao(kind, bin, dir, policyPath string) (*openBao, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &openBao{addr: fmt.Sprintf("http://127.0.0.1:%d", port), auditPath: filepath.Join(dir, "openbao-audit.log")}
	config := fmt.Sprintf(`storage "inmem" {}
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
api_addr      = %q
disable_mlock = true
`, port, b.addr)
	if kind == "openbao" {
		config += fmt.Sprintf("audit \"file\" \"kms-audit\" {\n  options {\n    file_path = %q\n  }\n}\n", b.auditPath)
	}
	configPath := filepath.Join(dir, "openbao.hcl")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	if b.proc, err = startProcess("openbao", filepath.Join(dir, "openbao.log"), nil, bin, "server", "-config="+configPath); err != nil {
		return nil, err
	}
	if err := waitFor("OpenBao listening", 60*time.Second, 200*time.Millisecond, func() error {
		_, _, err := b.call("GET", "sys/seal-status", "", nil)
		return err
	}); err != nil {
		return nil, err
	}
	var initResp struct {
		Keys      []string `json:"keys_base64"`
		RootToken string   `json:"root_token"`
	}
	if err := b.must("PUT", "sys/init", "", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &initResp); err != nil {
		return nil, err
	}
	b.rootToken, b.unsealKey = initResp.RootToken, initResp.Keys[0]
	if err := b.unseal(); err != nil {
		return nil, err
	}
	if kind == "vault" {
		audit := map[string]any{"type": "file", "options": map[string]string{"file_path": b.auditPath}}
		if err := b.must("PUT", "sys/audit/kms-audit", b.rootToken, audit, nil); err != nil {
			return nil, err
		}
	}
	policy, err := os.ReadFile(policyPath)
	if err != nil {
		return nil, err
	}
	steps := []struct {
		method, path string
		body         any
	}{
		{"POST", "sys/mounts/transit", map[string]any{"type": "transit"}},
		{"POST", "transit/keys/kms", map[string]any{}},
		{"PUT", "sys/policies/acl/kms", map[string]any{"policy": string(policy)}},
	}
	for _, s := range steps {
		if err := b.must(s.method, s.path, b.rootToken, s.body, nil); err != nil {
			return nil, err
		}
	}
	// The seed's token: a periodic orphan token with the kms policy.
	var tokenResp struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	if err := b.must("POST", "auth/token/create-orphan", b.rootToken, map[string]any{"policies": []string{"kms"}, "period": "24h"}, &tokenResp); err != nil {
		return nil, err
	}
	b.pluginToken = tokenResp.Auth.ClientToken
	return b, nil
}

// call sends one API request; it returns the status and body.
func (b *openBao) call(method, path, token string, body any) (int, []byte, error) {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.addr+"/v1/"+path, reader)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// must sends one request that has to succeed and decodes the answer into out.
func (b *openBao) must(method, path, token string, body, out any) error {
	status, data, err := b.call(method, path, token, body)
	if err != nil {
		return fmt.Errorf("OpenBao %s %s: %w", method, path, err)
	}
	if status >= 300 {
		return fmt.Errorf("OpenBao %s %s: HTTP %d: %s", method, path, status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (b *openBao) unseal() error {
	if err := b.must("PUT", "sys/unseal", "", map[string]any{"key": b.unsealKey}, nil); err != nil {
		return err
	}
	// Active and serving: sys/health answers 200 only then.
	return waitFor("OpenBao active", 60*time.Second, 200*time.Millisecond, func() error {
		status, data, err := b.call("GET", "sys/health", "", nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("sys/health HTTP %d: %s", status, data)
		}
		return nil
	})
}

func (b *openBao) seal() error { return b.must("PUT", "sys/seal", b.rootToken, nil, nil) }

func (b *openBao) rotate() error {
	return b.must("POST", "transit/keys/kms/rotate", b.rootToken, nil, nil)
}

// latestKeyID is the Transit key's latest_version, which is the KMS v2 key_id.
func (b *openBao) latestKeyID() (string, error) {
	var resp struct {
		Data struct {
			LatestVersion int `json:"latest_version"`
		} `json:"data"`
	}
	if err := b.must("GET", "transit/keys/kms", b.rootToken, nil, &resp); err != nil {
		return "", err
	}
	return strconv.Itoa(resp.Data.LatestVersion), nil
}

// auditMark is a position in the audit log.
type auditMark int64

func (b *openBao) auditMark() (auditMark, error) {
	info, err := os.Stat(b.auditPath)
	if err != nil {
		return 0, err
	}
	return auditMark(info.Size()), nil
}

// requestsSince counts the requests OpenBao logged after mark, by path.
func (b *openBao) requestsSince(mark auditMark) (map[string]int, int, error) {
	f, err := os.Open(b.auditPath)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if _, err := f.Seek(int64(mark), io.SeekStart); err != nil {
		return nil, 0, err
	}
	byPath, total := map[string]int{}, 0
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		var entry struct {
			Type    string `json:"type"`
			Request struct {
				Path string `json:"path"`
			} `json:"request"`
		}
		if json.Unmarshal(scanner.Bytes(), &entry) != nil || entry.Type != "request" {
			continue
		}
		byPath[entry.Request.Path]++
		total++
	}
	return byPath, total, scanner.Err()
}

func formatByPath(byPath map[string]int) string {
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	for i, p := range paths {
		if i > 0 {
			buf.WriteString(", ")
		}
		fmt.Fprintf(&buf, "%s %d", p, byPath[p])
	}
	return buf.String()
}
