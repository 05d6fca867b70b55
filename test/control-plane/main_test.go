package controlplane

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	kmstypes "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
)

// suiteEnv is where the suite finds its parts; run.sh sets the binaries.
type suiteEnv struct {
	repoRoot             string
	kubeAPIServerBin     string
	etcdBin              string
	pluginBin            string // the packaged artifact, or KMS_PLUGIN_CMD
	goPluginBin          string
	baoBin               string
	serverKind           string // the real server behind the plugin: "openbao" or "vault" (KMS_CP_SERVER)
	pluginHealthInterval string // empty: the plugin's default (15s)
	tempDir              string
	bao                  *openBao
}

var env suiteEnv

func getenv(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) (code int) {
	root, _ := filepath.Abs(getenv("KMS_REPO_ROOT", "../.."))
	env = suiteEnv{
		repoRoot:             root,
		kubeAPIServerBin:     os.Getenv("KMS_CP_KUBE_APISERVER"),
		etcdBin:              os.Getenv("KMS_CP_ETCD"),
		pluginBin:            getenv("KMS_PLUGIN_CMD", filepath.Join(root, "dist/artifact/vault-kubernetes-kms")),
		goPluginBin:          getenv("KMS_TEST_GO_PLUGIN", filepath.Join(root, ".tools/bin/vault-kubernetes-kms-go")),
		serverKind:           getenv("KMS_CP_SERVER", "openbao"),
		pluginHealthInterval: os.Getenv("KMS_CP_PLUGIN_HEALTH_INTERVAL"),
	}
	switch env.serverKind {
	case "openbao":
		env.baoBin = getenv("KMS_TEST_BAO", filepath.Join(root, ".tools/bin/bao"))
	case "vault":
		env.baoBin = getenv("KMS_TEST_VAULT", filepath.Join(root, ".tools/bin/vault"))
	default:
		fmt.Fprintf(os.Stderr, "control-plane: KMS_CP_SERVER=%q: openbao or vault\n", env.serverKind)
		return 2
	}
	for name, path := range map[string]string{"KMS_CP_KUBE_APISERVER": env.kubeAPIServerBin, "KMS_CP_ETCD": env.etcdBin, "plugin": env.pluginBin, serverName(env.serverKind): env.baoBin} {
		if path == "" {
			fmt.Fprintf(os.Stderr, "control-plane: %s is not set; run test/control-plane/run.sh\n", name)
			return 2
		}
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(os.Stderr, "control-plane: %s: %v (npm run tools; npm run build:artifact)\n", name, err)
			return 2
		}
	}
	var err error
	if env.tempDir, err = os.MkdirTemp("", "kms-control-plane-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Stop every child also on Ctrl-C or a SIGTERM from CI.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		stopAllProcesses()
		os.Exit(130)
	}()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintln(os.Stderr, "control-plane: panic:", r)
			code = 2
		}
		stopAllProcesses()
		if code == 0 && os.Getenv("KMS_CP_KEEP") == "" {
			os.RemoveAll(env.tempDir)
		} else {
			fmt.Fprintln(os.Stderr, "control-plane: logs kept in", env.tempDir)
		}
	}()
	baoDir := filepath.Join(env.tempDir, "openbao")
	if err := os.MkdirAll(baoDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "control-plane: the real server is %s (%s)\n", serverName(env.serverKind), env.baoBin)
	if env.bao, err = startOpenBao(env.serverKind, env.baoBin, baoDir, filepath.Join(root, "manifests/kms-policy.hcl")); err != nil {
		fmt.Fprintf(os.Stderr, "control-plane: %s: %v\n", serverName(env.serverKind), err)
		if _, statErr := os.Stat(filepath.Join(baoDir, "openbao.log")); statErr == nil {
			fmt.Fprintln(os.Stderr, logTail(filepath.Join(baoDir, "openbao.log"), 30))
		}
		return 2
	}
	return m.Run()
}

// cluster is one etcd, one plugin and one kube-apiserver, fresh for a test.
type cluster struct {
	t      *testing.T
	dir    string
	etcd   *etcdServer
	plugin *kmsPlugin
	api    *apiServer
}

type clusterOptions struct {
	api      apiServerOptions
	plugin   pluginKind
	servesV1 bool
}

func newCluster(t *testing.T, opts clusterOptions) *cluster {
	t.Helper()
	dir := filepath.Join(env.tempDir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []*process{c.procOf(c.api), c.procOf(c.plugin)} {
				if p != nil {
					t.Logf("---- last lines of %s (%s):\n%s", p.name, p.logPath, logTail(p.logPath, 25))
				}
			}
		}
		c.api.stop()
		c.plugin.stop()
		c.etcd.stop()
	})
	var err error
	if c.etcd, err = startEtcd(env.etcdBin, dir); err != nil {
		t.Fatalf("etcd: %v", err)
	}
	if opts.plugin == "" {
		opts.plugin = pluginOurs
	}
	if c.plugin, err = newPlugin(opts.plugin, filepath.Join(dir, "plugin"), env.bao, opts.servesV1); err != nil {
		t.Fatal(err)
	}
	if err := c.plugin.start(); err != nil {
		t.Fatalf("plugin: %v", err)
	}
	if c.api, err = newAPIServer(env.kubeAPIServerBin, filepath.Join(dir, "apiserver"), c.etcd.url, c.plugin.socket, opts.api); err != nil {
		t.Fatal(err)
	}
	if err := c.api.start(); err != nil {
		t.Fatalf("kube-apiserver: %v", err)
	}
	if err := c.api.waitReady(120 * time.Second); err != nil {
		t.Fatalf("%v", err)
	}
	return c
}

func (c *cluster) procOf(x interface{}) *process {
	switch v := x.(type) {
	case *apiServer:
		if v != nil {
			return v.proc
		}
	case *kmsPlugin:
		if v != nil {
			return v.proc
		}
	}
	return nil
}

// plaintextMarker is a value that must never appear in etcd.
func plaintextMarker(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "cp-plaintext-" + hex.EncodeToString(b)
}

// storedEnvelope is what etcd holds for one Secret.
type storedEnvelope struct {
	provider kmsProvider
	keyID    string // KMS v2 only
	raw      []byte
}

// readStored reads /registry/secrets/<ns>/<name> from etcd and checks it is a
// KMS envelope of one of the providers that does not contain the plaintext.
func (c *cluster) readStored(ns, name, plaintext string, providers ...kmsProvider) (*storedEnvelope, error) {
	key := "/registry/secrets/" + ns + "/" + name
	raw, err := c.etcd.raw(key)
	if err != nil {
		return nil, fmt.Errorf("etcd get %s: %w", key, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("etcd has no value at %s", key)
	}
	if plaintext != "" {
		for _, form := range []string{plaintext, base64.StdEncoding.EncodeToString([]byte(plaintext))} {
			if bytes.Contains(raw, []byte(form)) {
				return nil, fmt.Errorf("the stored value at %s contains the plaintext %q", key, form)
			}
		}
	}
	for _, p := range providers {
		prefix := "k8s:enc:kms:" + p.apiVersion + ":" + p.name + ":"
		if !bytes.HasPrefix(raw, []byte(prefix)) {
			continue
		}
		found := &storedEnvelope{provider: p, raw: raw}
		if p.apiVersion == "v2" {
			var obj kmstypes.EncryptedObject
			if err := proto.Unmarshal(raw[len(prefix):], &obj); err != nil {
				return nil, fmt.Errorf("%s: the value after %q is not a KMS v2 EncryptedObject: %w", key, prefix, err)
			}
			if len(obj.EncryptedDEKSource) == 0 || len(obj.EncryptedData) == 0 {
				return nil, fmt.Errorf("%s: EncryptedObject without encrypted DEK source or data", key)
			}
			found.keyID = obj.KeyID
		}
		return found, nil
	}
	shown := raw
	if len(shown) > 40 {
		shown = shown[:40]
	}
	return nil, fmt.Errorf("%s: stored value starts with %q, not with a KMS prefix of %v", key, shown, providers)
}

// keyIDs maps every Secret of ns to the key_id its stored value carries.
func (c *cluster) keyIDs(ns string) (map[string]string, error) {
	values, err := c.etcd.rawPrefix("/registry/secrets/" + ns + "/")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for key := range values {
		name := key[strings.LastIndex(key, "/")+1:]
		stored, err := c.readStored(ns, name, "", providerV2)
		if err != nil {
			return nil, err
		}
		out[name] = stored.keyID
	}
	return out, nil
}

// expectSecret reads a Secret through the API and compares its data.
func (c *cluster) expectSecret(ns, name string, want map[string]string) error {
	s, status, body, err := c.api.getSecret(ns, name)
	if err != nil {
		return fmt.Errorf("get secret %s/%s: %w", ns, name, err)
	}
	if status != 200 {
		return fmt.Errorf("get secret %s/%s: HTTP %d: %s", ns, name, status, body)
	}
	for k, v := range want {
		if string(s.Data[k]) != v {
			return fmt.Errorf("secret %s/%s: data[%s] = %q, want %q", ns, name, k, s.Data[k], v)
		}
	}
	if len(s.Data) != len(want) {
		return fmt.Errorf("secret %s/%s: %d data keys, want %d", ns, name, len(s.Data), len(want))
	}
	return nil
}
