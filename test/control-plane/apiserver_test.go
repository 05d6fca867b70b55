package controlplane

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// kmsProvider is one kms entry of an EncryptionConfiguration.
type kmsProvider struct {
	apiVersion string // "v2" or "v1"
	name       string
}

var (
	providerV2 = kmsProvider{apiVersion: "v2", name: "vault"}
	providerV1 = kmsProvider{apiVersion: "v1", name: "vault-v1"}
)

// apiServerOptions is what differs between the suite's apiservers.
type apiServerOptions struct {
	providers []kmsProvider // the first one writes; all of them read
	// automaticReload makes kube-apiserver watch the config file; it also
	// folds the KMS health checks into the single check "kms-providers".
	automaticReload bool
	kmsV1Gate       bool // --feature-gates=KMSv1=true
}

func (o apiServerOptions) kmsHealthCheck() string {
	if o.automaticReload {
		return "kms-providers"
	}
	return "kms-provider-0"
}

func encryptionConfig(socket string, providers []kmsProvider) string {
	var b strings.Builder
	b.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n    providers:\n")
	for _, p := range providers {
		fmt.Fprintf(&b, "      - kms:\n          apiVersion: %s\n          name: %s\n          endpoint: unix://%s\n          timeout: 3s\n", p.apiVersion, p.name, socket)
	}
	b.WriteString("      - identity: {}\n")
	return b.String()
}

// apiServer is a real kube-apiserver of the pinned release on loopback.
type apiServer struct {
	bin, dir  string
	etcdURL   string
	socket    string
	opts      apiServerOptions
	port      int
	token     string
	proc      *process
	http      *http.Client
	restarts  int
	startedAt time.Time
}

func newAPIServer(bin, dir, etcdURL, socket string, opts apiServerOptions) (*apiServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tokenBytes := make([]byte, 16)
	if _, err := rand.Read(tokenBytes); err != nil {
		return nil, err
	}
	a := &apiServer{bin: bin, dir: dir, etcdURL: etcdURL, socket: socket, opts: opts, token: hex.EncodeToString(tokenBytes),
		// The serving certificate is self-signed into --cert-dir; the client
		// only ever talks to 127.0.0.1.
		http: &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 16}}}
	// Service-account key pair: one RSA key serves as signing and verifying key.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	files := map[string]string{
		"sa.key":     string(keyPEM),
		"tokens.csv": a.token + ",cp-admin,cp-admin-uid,\"system:masters\"\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	if err := a.writeEncryptionConfig(opts.providers); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *apiServer) writeEncryptionConfig(providers []kmsProvider) error {
	a.opts.providers = providers
	return os.WriteFile(filepath.Join(a.dir, "encryption-config.yaml"), []byte(encryptionConfig(a.socket, providers)), 0o600)
}

func (a *apiServer) args() []string {
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", a.port),
		"--cert-dir=" + filepath.Join(a.dir, "certs"),
		"--etcd-servers=" + a.etcdURL,
		// On loopback kube-apiserver refuses to reconcile the kubernetes
		// Service endpoints; nothing here needs them.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(a.dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(a.dir, "sa.key"),
		"--token-auth-file=" + filepath.Join(a.dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--encryption-provider-config=" + filepath.Join(a.dir, "encryption-config.yaml"),
		fmt.Sprintf("--encryption-provider-config-automatic-reload=%t", a.opts.automaticReload),
		"--profiling=false",
		"--v=1",
	}
	if a.opts.kmsV1Gate {
		args = append(args, "--feature-gates=KMSv1=true")
	}
	return args
}

// start launches the apiserver and waits until it serves (/livez): /livez
// does not include the KMS check, so a start against a sealed Vault works.
func (a *apiServer) start() error {
	if a.proc != nil && a.proc.running() {
		return fmt.Errorf("kube-apiserver already running")
	}
	// A fresh port at each start: the last one may be taken by now on a
	// shared machine.
	port, err := freePort()
	if err != nil {
		return err
	}
	a.port = port
	a.startedAt = time.Now()
	proc, err := startProcess(fmt.Sprintf("kube-apiserver #%d", a.restarts), filepath.Join(a.dir, "kube-apiserver.log"), nil, a.bin, a.args()...)
	if err != nil {
		return err
	}
	a.proc = proc
	a.restarts++
	if err := waitFor("kube-apiserver /livez", 180*time.Second, 250*time.Millisecond, func() error {
		if !proc.running() {
			return fmt.Errorf("kube-apiserver exited: %v", proc.waitErr)
		}
		status, body, err := a.do("GET", "/livez", nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("/livez HTTP %d: %s", status, body)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("%w\nkube-apiserver log:\n%s", err, logTail(proc.logPath, 40))
	}
	return nil
}

// waitReady waits for /readyz, which includes the KMS health check.
func (a *apiServer) waitReady(timeout time.Duration) error {
	return waitFor("kube-apiserver /readyz", timeout, 250*time.Millisecond, func() error {
		status, body, err := a.do("GET", "/readyz?verbose", nil)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("/readyz HTTP %d: %s", status, a.failureReasons(body))
		}
		return nil
	})
}

// failureReasons asks each failed check of a verbose health answer for its
// reason: the aggregated answer withholds it.
func (a *apiServer) failureReasons(body []byte) string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		name, found := strings.CutPrefix(line, "[-]")
		if !found {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		_, reason, err := a.do("GET", "/readyz/"+name, nil)
		if err != nil {
			reason = []byte(err.Error())
		}
		out = append(out, fmt.Sprintf("%s: %s", name, strings.TrimSpace(string(reason))))
	}
	if len(out) == 0 {
		return strings.TrimSpace(string(body))
	}
	return strings.Join(out, "; ")
}

func (a *apiServer) stop() {
	if a != nil && a.proc != nil {
		a.proc.stop(30 * time.Second)
	}
}

func (a *apiServer) restart() error {
	a.stop()
	return a.start()
}

// do sends one request with the admin token.
func (a *apiServer) do(method, path string, body any) (int, []byte, error) {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, fmt.Sprintf("https://127.0.0.1:%d%s", a.port, path), reader)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// failedChecks keeps the "[-]" lines of a verbose health answer.
func failedChecks(body []byte) string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "[-]") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return strings.TrimSpace(string(body))
	}
	return strings.Join(out, "; ")
}

// --- the few API objects the suite needs

type objectMeta struct {
	Name            string `json:"name"`
	Namespace       string `json:"namespace,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

type secret struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   objectMeta        `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`
	Data       map[string][]byte `json:"data,omitempty"`
}

type secretList struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
		Continue        string `json:"continue"`
	} `json:"metadata"`
	Items []secret `json:"items"`
}

func (a *apiServer) createNamespace(name string) error {
	status, body, err := a.do("POST", "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]string{"name": name}})
	if err != nil {
		return err
	}
	if status != http.StatusCreated && status != http.StatusConflict {
		return fmt.Errorf("create namespace %s: HTTP %d: %s", name, status, body)
	}
	return nil
}

// createSecret POSTs a Secret; it returns the HTTP status and body so that
// callers can assert failures too.
func (a *apiServer) createSecret(ns, name string, data map[string]string) (int, []byte, error) {
	return a.do("POST", "/api/v1/namespaces/"+ns+"/secrets", secret{APIVersion: "v1", Kind: "Secret", Metadata: objectMeta{Name: name}, Type: "Opaque", StringData: data})
}

func (a *apiServer) mustCreateSecret(ns, name string, data map[string]string) error {
	status, body, err := a.createSecret(ns, name, data)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("create secret %s/%s: HTTP %d: %s", ns, name, status, body)
	}
	return nil
}

func (a *apiServer) getSecret(ns, name string) (*secret, int, []byte, error) {
	status, body, err := a.do("GET", "/api/v1/namespaces/"+ns+"/secrets/"+name, nil)
	if err != nil || status != http.StatusOK {
		return nil, status, body, err
	}
	var s secret
	return &s, status, body, json.Unmarshal(body, &s)
}

// listSecrets lists the Secrets of ns ("" = all namespaces) in one request.
func (a *apiServer) listSecrets(ns string) (*secretList, int, []byte, error) {
	path := "/api/v1/secrets"
	if ns != "" {
		path = "/api/v1/namespaces/" + ns + "/secrets"
	}
	status, body, err := a.do("GET", path, nil)
	if err != nil || status != http.StatusOK {
		return nil, status, body, err
	}
	var l secretList
	return &l, status, body, json.Unmarshal(body, &l)
}

// replaceAllSecrets PUTs every Secret of ns back unchanged, as
// `kubectl get secrets -o json | kubectl replace -f -` does (docs/rotation.md).
// It returns how many it replaced.
func (a *apiServer) replaceAllSecrets(ns string) (int, error) {
	status, body, err := a.do("GET", "/api/v1/namespaces/"+ns+"/secrets", nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("list secrets %s: HTTP %d: %s", ns, status, body)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, err
	}
	for _, item := range list.Items {
		item["apiVersion"], item["kind"] = "v1", "Secret"
		name := item["metadata"].(map[string]any)["name"].(string)
		status, body, err := a.do("PUT", "/api/v1/namespaces/"+ns+"/secrets/"+name, item)
		if err != nil {
			return 0, err
		}
		if status != http.StatusOK {
			return 0, fmt.Errorf("replace secret %s/%s: HTTP %d: %s", ns, name, status, body)
		}
	}
	return len(list.Items), nil
}

// health GETs a health path; ok means HTTP 200.
func (a *apiServer) health(path string) (bool, string, error) {
	status, body, err := a.do("GET", path, nil)
	if err != nil {
		return false, "", err
	}
	return status == http.StatusOK, strings.TrimSpace(string(body)), nil
}
