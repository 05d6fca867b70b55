package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	"k8s.io/apiserver/pkg/storage/value"
	kmstypes "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
)

// Contract rules, numbered after /work/shared/reference/kms-contract.md. Every
// assertion failure message starts with the rule that was broken.
const (
	ruleV2Prime = "contract §3+§4 (KMS v2 startup: Status must return version \"v2\"|\"v2beta1\", healthz \"ok\", a key_id of 1..1024 bytes; " +
		"the following Encrypt must return a ciphertext of 1..1024 bytes, the SAME key_id as Status, FQDN annotation keys, annotations <= 32 KiB)"
	ruleV2Prefix       = "contract §6 (KMS v2 storage format: value = \"k8s:enc:kms:v2:<name>:\" + protobuf EncryptedObject)"
	ruleV1Prefix       = "contract §6 (KMS v1 storage format: value = \"k8s:enc:kms:v1:<name>:\" + uint16 len + encrypted DEK + AES-GCM data)"
	ruleNoPlaintext    = "contract §6 (stored value must not contain the plaintext)"
	ruleV2RoundTrip    = "contract §4 (KMS v2 Decrypt must return exactly the 32-byte seed given to Encrypt, so objects read back byte-identical)"
	ruleV1RoundTrip    = "contract §5 (KMS v1: Version must answer \"v1beta1\"; Decrypt(Encrypt(dek)) must return the 32-byte DEK, so objects read back byte-identical)"
	ruleSeedReuse      = "contract §3+§4 (Status key_id must be stable, so one DEK seed is reused for all writes; Encrypt is never called per write)"
	ruleDistinctCipher = "contract §4 (distinct plaintexts must yield distinct (ciphertext, key_id, annotations): each new seed must get a new encryptedDEKSource)"
	ruleColdDecrypt    = "contract §4 (cold start: Decrypt{ciphertext, key_id, annotations} exactly as stored must return the seed; no plugin-side state from the writer's connection may be required)"
	ruleConcurrency    = "contract §4 (concurrency: the plugin must serve many parallel, identical Decrypt requests on one HTTP/2 connection, as watch-cache initialisation sends them)"
	ruleHealthSealed   = "contract §3+§7 (KMS health: /readyz/kms-providers must turn unhealthy while the KMS backend (Vault) is sealed: v2 Status must fail or report healthz != \"ok\"; v1 Encrypt/Decrypt must fail)"
	ruleHealthRecover  = "contract §3+§7 (KMS health: after the backend (Vault) is unsealed the plugin must report healthy again (Status healthz \"ok\"; v1 Encrypt+Decrypt succeed))"
	ruleKeyIDStable    = "contract §3 (key_id must be stable: it may only change when the remote KEK changes, and must not flip-flop)"
	ruleRotationKeyID  = "contract §3 (after a KEK rotation Status must report a new key_id, within the plugin's refresh delay plus the apiserver's Status polling)"
	ruleEncryptKeyID   = "contract §3+§4 (Encrypt must return the same key_id as Status, also right after a KEK rotation; a mismatch fails DEK rotation and the health check)"
	ruleOldKeyDecrypt  = "contract §4 (Decrypt must accept an OLD key_id after rotation: data not yet migrated must stay readable)"
	ruleStale          = "contract §3 (after a key_id change, objects stored under the old key_id are reported stale by TransformFromStorage)"
	ruleHealthV1       = "contract §5 (KMS v1 health check: Encrypt(\"ping\") then Decrypt must succeed)"
	ruleRecoverDecrypt = "contract §4 (Decrypt failures while the backend is unavailable must not be sticky: the same read must succeed after recovery)"
)

const (
	v2Name      = "vault"    // KMS v2 provider name (no ':' allowed)
	v1Name      = "vault-v1" // KMS v1 provider name
	apiServerID = "conformance-apiserver"
)

var (
	grSecrets    = schema.GroupResource{Resource: "secrets"}
	grConfigMaps = schema.GroupResource{Resource: "configmaps"}
	configSeq    atomic.Int64
)

// provider describes one entry of an EncryptionConfiguration providers list.
type provider struct {
	apiVersion string // "v2" or "v1"
	name       string
}

func encryptionConfigYAML(providers ...provider) string {
	var b strings.Builder
	b.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n")
	b.WriteString("  - resources:\n      - secrets\n      - configmaps\n    providers:\n")
	for _, p := range providers {
		fmt.Fprintf(&b, "      - kms:\n          apiVersion: %s\n          name: %s\n          endpoint: %s\n          timeout: 3s\n", p.apiVersion, p.name, env.endpoint)
	}
	b.WriteString("      - identity: {}\n")
	return b.String()
}

// loaded is one result of encryptionconfig.LoadEncryptionConfig: what one
// kube-apiserver process builds at start (or what a restart rebuilds).
type loaded struct {
	cfg    *encryptionconfig.EncryptionConfiguration
	cancel context.CancelFunc
	path   string
}

// enableKMSv1 turns on the deprecated KMSv1 feature gate for the test (as
// --feature-gates=KMSv1=true does).
func enableKMSv1(t *testing.T) {
	t.Helper()
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.KMSv1, true)
}

// load writes an EncryptionConfiguration and loads it with the apiserver's
// loader. The returned transformers stay alive until the test ends (or until
// close is called, which is what a process exit does to the gRPC connections).
func load(t testing.TB, providers ...provider) *loaded {
	t.Helper()
	pluginAlive(t)
	path := filepath.Join(env.workDir, fmt.Sprintf("encryption-config-%03d.yaml", configSeq.Add(1)))
	if err := os.WriteFile(path, []byte(encryptionConfigYAML(providers...)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cfg, err := encryptionconfig.LoadEncryptionConfig(ctx, path, false, apiServerID)
	if err != nil {
		cancel()
		t.Fatalf("LoadEncryptionConfig(%s) failed: %v", path, err)
	}
	l := &loaded{cfg: cfg, cancel: cancel, path: path}
	t.Cleanup(l.close)
	return l
}

func (l *loaded) close() { l.cancel() }

// transformer returns the transformer kube-apiserver would use for a resource
// (StaticTransformers is what the apiserver uses without auto-reload).
func (l *loaded) transformer(gr schema.GroupResource) value.Transformer {
	return encryptionconfig.StaticTransformers(l.cfg.Transformers).TransformerForResource(gr)
}

// health runs every health check the loader returned, as a GET of
// /readyz/<name> would. It returns nil when all pass.
func (l *loaded) health() error {
	var errs []string
	for _, hc := range l.cfg.HealthChecks {
		req := httptest.NewRequest("GET", "/readyz/"+hc.Name(), nil)
		if err := hc.Check(req); err != nil {
			errs = append(errs, fmt.Sprintf("[%s] %v", hc.Name(), err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}

func (l *loaded) checkNames() []string {
	var n []string
	for _, hc := range l.cfg.HealthChecks {
		n = append(n, hc.Name())
	}
	return n
}

// waitHealth polls the health checks until they report want (healthy or not).
// The apiserver caches results (20 s good / 3 s bad), so this needs a deadline.
func (l *loaded) waitHealth(t testing.TB, wantHealthy bool, timeout time.Duration, rule string) (lastErr error, took time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		pluginAlive(t)
		err := l.health()
		if (err == nil) == wantHealthy {
			return err, time.Since(start)
		}
		lastErr = err
		if time.Since(start) > timeout {
			if wantHealthy {
				t.Fatalf("%s\nhealth checks %v still failing after %s; last error: %v\ndiagnosis: %s\nplugin log tail:\n%s",
					rule, l.checkNames(), timeout, lastErr, diagnose(lastErr), tail(env.pluginProc.logPath, 20))
			} else {
				t.Fatalf("%s\nhealth checks %v still passing after %s", rule, l.checkNames(), timeout)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// loadHealthy loads a config and requires the plugin to become healthy. The
// first check is the one primeAndProbeKMSv2 ran inline during the load.
func loadHealthy(t testing.TB, providers ...provider) *loaded {
	t.Helper()
	l := load(t, providers...)
	var rules []string
	for _, p := range providers {
		if p.apiVersion == "v2" {
			rules = append(rules, ruleV2Prime)
		} else {
			rules = append(rules, ruleHealthV1)
		}
	}
	l.waitHealth(t, true, 30*time.Second, strings.Join(rules, " / "))
	return l
}

// diagnose maps kube-apiserver's KMS error texts to the plugin-side rule that
// was broken (contract §3, §4, §5).
func diagnose(err error) string {
	if err == nil {
		return "none"
	}
	s := err.Error()
	var d []string
	add := func(cond bool, msg string) {
		if cond {
			d = append(d, msg)
		}
	}
	add(strings.Contains(s, "expected KMSv2 API version"), "Status.version must be \"v2\" or \"v2beta1\" (§3)")
	add(strings.Contains(s, "should not change after the initial status"), "Status.version must not change (§3)")
	add(strings.Contains(s, "got unexpected healthz status"), "Status.healthz is not exactly \"ok\" (§3)")
	add(strings.Contains(s, "keyID is empty"), "key_id (Status or Encrypt) must not be empty (§3/§4)")
	add(strings.Contains(s, "exceeds the max size"), "key_id/ciphertext must be <= 1024 bytes, annotations <= 32768 bytes (§3/§4)")
	add(strings.Contains(s, "encrypted DEK source is empty"), "Encrypt.ciphertext must not be empty (§4)")
	add(strings.Contains(s, "annotations"), "annotation keys must be fully qualified domain names (§4)")
	add(strings.Contains(s, "failed to rotate DEK") && strings.Contains(s, "errGen=<nil>"),
		"Encrypt returned a key_id different from Status' key_id (statusKeyIDHash != encryptKeyIDHash) (§3/§4)")
	add(strings.Contains(s, "errGen=failed to encrypt DEK"), "the Encrypt RPC failed (§4)")
	add(strings.Contains(s, "failed to perform status section"), "the Status RPC failed (§3)")
	add(strings.Contains(s, "DeadlineExceeded"), "an RPC did not answer within the 3 s timeout (socket not served / plugin stuck) (§2)")
	add(strings.Contains(s, "Unimplemented"), "the gRPC service/method is not served on the socket (§1)")
	add(strings.Contains(s, "api version") && strings.Contains(s, "only v1beta1"), "v1 Version must answer \"v1beta1\" (§5)")
	add(strings.Contains(s, "encrypt section of the healthz"), "v1 Encrypt(\"ping\") failed (§5)")
	add(strings.Contains(s, "decrypt section of the healthz"), "v1 Decrypt of the \"ping\" ciphertext failed (§5)")
	if len(d) == 0 {
		return "see error text"
	}
	return strings.Join(d, "; ")
}

// object is one value written through a transformer, as etcd would store it.
type object struct {
	gr        schema.GroupResource
	key       string // etcd key, also the AES-GCM authenticated data
	plaintext []byte
	marker    []byte // random token embedded in the plaintext
	stored    []byte // what etcd would hold
	provider  provider
	eo        *kmstypes.EncryptedObject // v2 only
	v1DEK     []byte                    // v1 only: encrypted DEK
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// makePlaintext builds a Secret-like JSON document carrying a unique marker.
func makePlaintext(ns, name string, extra int) (plain, marker []byte) {
	marker = []byte("conformance-marker-" + randHex(16))
	payload := make([]byte, 24+extra)
	_, _ = rand.Read(payload)
	plain = []byte(fmt.Sprintf(`{"kind":"Secret","apiVersion":"v1","metadata":{"name":%q,"namespace":%q},"data":{"marker":%q,"payload":%q},"type":"Opaque"}`,
		name, ns, marker, base64.StdEncoding.EncodeToString(payload)))
	return plain, marker
}

func etcdKey(gr schema.GroupResource, ns, name string) string {
	return fmt.Sprintf("/registry/%s/%s/%s", gr.Resource, ns, name)
}

// write stores a new object through l for provider p (the first provider of l's config).
func write(t testing.TB, l *loaded, p provider, gr schema.GroupResource, ns, name string, extra int) *object {
	t.Helper()
	plain, marker := makePlaintext(ns, name, extra)
	o := &object{gr: gr, key: etcdKey(gr, ns, name), plaintext: plain, marker: marker, provider: p}
	stored, err := l.transformer(gr).TransformToStorage(context.Background(), plain, value.DefaultContext(o.key))
	if err != nil {
		pluginAlive(t)
		rule := ruleV2Prime
		if p.apiVersion == "v1" {
			rule = ruleV1RoundTrip
		}
		t.Fatalf("%s\nTransformToStorage(%s) failed: %v", rule, o.key, err)
	}
	o.stored = stored
	checkStored(t, o)
	return o
}

// checkStored validates the stored format and that no plaintext leaked.
func checkStored(t testing.TB, o *object) {
	t.Helper()
	if bytes.Contains(o.stored, o.marker) || bytes.Contains(o.stored, o.plaintext) {
		t.Fatalf("%s\nstored value for %s contains the plaintext marker %q", ruleNoPlaintext, o.key, o.marker)
	}
	switch o.provider.apiVersion {
	case "v2":
		o.eo = decodeV2(t, o.stored, o.provider.name)
	case "v1":
		o.v1DEK = decodeV1(t, o.stored, o.provider.name)
	}
}

func decodeV2(t testing.TB, stored []byte, name string) *kmstypes.EncryptedObject {
	t.Helper()
	prefix := []byte("k8s:enc:kms:v2:" + name + ":")
	if !bytes.HasPrefix(stored, prefix) {
		t.Fatalf("%s\nstored value does not start with %q: %q", ruleV2Prefix, prefix, truncate(stored, 64))
	}
	eo := &kmstypes.EncryptedObject{}
	if err := proto.Unmarshal(stored[len(prefix):], eo); err != nil {
		t.Fatalf("%s\ncannot unmarshal EncryptedObject after the prefix: %v", ruleV2Prefix, err)
	}
	if len(eo.EncryptedData) == 0 || len(eo.EncryptedDEKSource) == 0 || eo.KeyID == "" {
		t.Fatalf("%s\nEncryptedObject incomplete: data=%d bytes, encryptedDEKSource=%d bytes, keyID=%q", ruleV2Prefix, len(eo.EncryptedData), len(eo.EncryptedDEKSource), eo.KeyID)
	}
	return eo
}

func decodeV1(t testing.TB, stored []byte, name string) []byte {
	t.Helper()
	prefix := []byte("k8s:enc:kms:v1:" + name + ":")
	if !bytes.HasPrefix(stored, prefix) {
		t.Fatalf("%s\nstored value does not start with %q: %q", ruleV1Prefix, prefix, truncate(stored, 64))
	}
	rest := stored[len(prefix):]
	if len(rest) < 2 {
		t.Fatalf("%s\nstored value too short", ruleV1Prefix)
	}
	n := int(binary.BigEndian.Uint16(rest))
	if len(rest) < 2+n+12+16 {
		t.Fatalf("%s\nstored value too short for a %d-byte encrypted DEK plus AES-GCM data", ruleV1Prefix, n)
	}
	return rest[2 : 2+n]
}

// read reads o back through l and checks it is byte-identical; returns stale.
func read(t testing.TB, l *loaded, o *object, rule string) bool {
	t.Helper()
	out, stale, err := readErr(l, o)
	if err != nil {
		pluginAlive(t)
		t.Fatalf("%s\nTransformFromStorage(%s) failed: %v", rule, o.key, err)
	}
	if !bytes.Equal(out, o.plaintext) {
		t.Fatalf("%s\nTransformFromStorage(%s) returned %d bytes that differ from the %d bytes written", rule, o.key, len(out), len(o.plaintext))
	}
	return stale
}

func readErr(l *loaded, o *object) ([]byte, bool, error) {
	return l.transformer(o.gr).TransformFromStorage(context.Background(), o.stored, value.DefaultContext(o.key))
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func short(b []byte) string {
	if len(b) > 12 {
		return hex.EncodeToString(b[:12]) + "…"
	}
	return hex.EncodeToString(b)
}

// currentKeyID writes a probe object and returns the key_id it carries, i.e.
// the key_id of the transformer's current write state.
func currentKeyID(t testing.TB, l *loaded) (string, *object) {
	t.Helper()
	o := write(t, l, provider{"v2", v2Name}, grSecrets, "probe", "probe-"+randHex(4), 0)
	return o.eo.KeyID, o
}

// corpus collects every object written during the run, so that the final
// "restart" test can read all of them through a brand-new transformer.
var corpus struct {
	sync.Mutex
	objs []*object
}

func remember(objs ...*object) {
	corpus.Lock()
	defer corpus.Unlock()
	corpus.objs = append(corpus.objs, objs...)
}

func remembered() []*object {
	corpus.Lock()
	defer corpus.Unlock()
	return append([]*object(nil), corpus.objs...)
}

// vaultStats returns the fault proxy's /_test/stats body (for logs only).
func vaultStats() string {
	b, err := vaultRequest("GET", "/_test/stats", "")
	if err != nil {
		return fmt.Sprintf("(stats unavailable: %v)", err)
	}
	return strings.TrimSpace(string(b))
}

// parallel runs fn(i) for i in [0,n) on n goroutines released at the same time.
func parallel(n int, fn func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}(i)
	}
	close(start)
	wg.Wait()
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}
