package controlplane

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The KMS v2 setup of the seed: one kms v2 provider named "vault", then
// identity. With automatic reload kube-apiserver reports the KMS health as the
// single check "kms-providers".
var v2Cluster = clusterOptions{api: apiServerOptions{providers: []kmsProvider{providerV2}, automaticReload: true}}

// rotationBound is how long a new key_id may take to reach new writes: the
// plugin's background check (15 s by default) plus kube-apiserver's Status
// poll. kube-apiserver polls Status every minute on its own; every health
// request older than 20 s polls it too, and the test sends one every few
// seconds. The bound leaves room for a busy machine.
const rotationBound = 150 * time.Second

// 1. The seed's "Verify Secret Encryption", asserted.
func TestSeedVerification(t *testing.T) {
	c := newCluster(t, v2Cluster)
	ns := "cp-verify"
	if err := c.api.createNamespace(ns); err != nil {
		t.Fatal(err)
	}
	value := plaintextMarker(t)
	if err := c.api.mustCreateSecret(ns, "secret-encrypted", map[string]string{"key": value}); err != nil {
		t.Fatal(err)
	}
	if err := c.expectSecret(ns, "secret-encrypted", map[string]string{"key": value}); err != nil {
		t.Fatal(err)
	}
	stored, err := c.readStored(ns, "secret-encrypted", value, providerV2)
	if err != nil {
		t.Fatal(err)
	}
	wantKeyID, err := env.bao.latestKeyID()
	if err != nil {
		t.Fatal(err)
	}
	if stored.keyID != wantKeyID {
		t.Fatalf("stored key_id %q, want the Transit key's latest_version %q", stored.keyID, wantKeyID)
	}
	for _, path := range []string{"/healthz/kms-providers", "/readyz/kms-providers", "/readyz"} {
		ok, body, err := c.api.health(path)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || body != "ok" {
			t.Errorf("%s = %q, want ok", path, body)
		}
	}
	t.Logf("etcd value: %q... key_id %q", stored.raw[:len("k8s:enc:kms:v2:vault:")], stored.keyID)
}

// 2. Restarts: every Secret reads back through a fresh kube-apiserver (it has
// to Decrypt its stored DEK seeds again), then through a fresh plugin too.
func TestRestartReadsBack(t *testing.T) {
	c := newCluster(t, v2Cluster)
	ns := "cp-restart"
	if err := c.api.createNamespace(ns); err != nil {
		t.Fatal(err)
	}
	want := createSecrets(t, c, ns, "before", 25)
	if err := c.api.restart(); err != nil {
		t.Fatal(err)
	}
	// A second seed: the next apiserver instance writes with a seed of its own.
	for name, v := range createSecrets(t, c, ns, "second", 25) {
		want[name] = v
	}
	c.api.stop()
	c.plugin.stop()
	if err := c.plugin.start(); err != nil {
		t.Fatal(err)
	}
	if err := c.api.start(); err != nil {
		t.Fatal(err)
	}
	expectAll(t, c, ns, want)
	if err := c.api.waitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// 3. Rotation of the Transit key under a running control plane.
func TestRotation(t *testing.T) {
	c := newCluster(t, v2Cluster)
	ns := "cp-rotation"
	if err := c.api.createNamespace(ns); err != nil {
		t.Fatal(err)
	}
	oldKeyID, err := env.bao.latestKeyID()
	if err != nil {
		t.Fatal(err)
	}
	want := createSecrets(t, c, ns, "old", 20)
	if err := env.bao.rotate(); err != nil {
		t.Fatal(err)
	}
	newKeyID, _ := env.bao.latestKeyID()
	took := waitForKeyID(t, c, ns, newKeyID, want)
	t.Logf("Transit key rotated %s -> %s: new Secrets carry key_id %q %s after the rotation", oldKeyID, newKeyID, newKeyID, took.Round(time.Second))

	ids, err := c.keyIDs(ns)
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if strings.HasPrefix(name, "old-") && ids[name] != oldKeyID {
			t.Errorf("%s: key_id %q before re-encryption, want the old %q", name, ids[name], oldKeyID)
		}
	}
	expectAll(t, c, ns, want) // old ones still read back

	// docs/rotation.md: replace every Secret.
	n, err := c.api.replaceAllSecrets(ns)
	if err != nil {
		t.Fatal(err)
	}
	if ids, err = c.keyIDs(ns); err != nil {
		t.Fatal(err)
	}
	for name, id := range ids {
		if id != newKeyID {
			t.Errorf("%s: key_id %q after replacing all Secrets, want %q", name, id, newKeyID)
		}
	}
	t.Logf("replaced %d Secrets: all carry key_id %q", n, newKeyID)
	expectAll(t, c, ns, want)
	// And a fresh apiserver still reads them all (cold Decrypt of the new seed).
	if err := c.api.restart(); err != nil {
		t.Fatal(err)
	}
	expectAll(t, c, ns, want)
}

// 4a. Vault sealed under a running control plane, then unsealed.
func TestSealedVault(t *testing.T) {
	c := newCluster(t, v2Cluster)
	ns := "cp-sealed"
	if err := c.api.createNamespace(ns); err != nil {
		t.Fatal(err)
	}
	want := createSecrets(t, c, ns, "before", 10)
	if err := env.bao.seal(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.bao.unseal() }) // the next tests need it, whatever happens here
	sealedAt := time.Now()

	// The KMS failure reaches kube-apiserver's health endpoints.
	var kmsBody string
	if err := waitFor("/healthz/kms-providers failing", 90*time.Second, 2*time.Second, func() error {
		ok, body, err := c.api.health("/healthz/kms-providers")
		if err != nil {
			return err
		}
		if ok {
			return errNotYet
		}
		kmsBody = body
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("sealed: /healthz/kms-providers failed %s after the seal: %s", time.Since(sealedAt).Round(time.Second), kmsBody)
	ok, readyz, err := c.api.health("/readyz?verbose")
	if err != nil {
		t.Fatal(err)
	}
	if ok || !strings.Contains(readyz, "[-]kms-providers failed") {
		t.Errorf("/readyz while Vault is sealed: ok=%t, want [-]kms-providers failed; got %s", ok, failedChecks([]byte(readyz)))
	}
	// Reads of what this apiserver already decrypted keep working.
	expectAll(t, c, ns, want)

	// A restarted apiserver has no DEK seed and cannot decrypt one: writes
	// fail with an error, nothing reaches etcd, reads of stored Secrets fail.
	if err := c.api.restart(); err != nil {
		t.Fatal(err)
	}
	status, body, err := c.api.createSecret(ns, "while-sealed", map[string]string{"key": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if status < 500 || status > 503 {
		t.Errorf("create while sealed: HTTP %d, want a 5xx error: %s", status, body)
	} else {
		t.Logf("create while sealed (fresh apiserver): HTTP %d %s", status, strings.TrimSpace(string(body)))
	}
	if raw, err := c.etcd.raw("/registry/secrets/" + ns + "/while-sealed"); err != nil || raw != nil {
		t.Errorf("a failed write left a value in etcd (err %v)", err)
	}
	_, status, body, err = c.api.getSecret(ns, "before-0")
	if err != nil {
		t.Fatal(err)
	}
	if status == http.StatusOK {
		t.Errorf("a fresh apiserver read a stored Secret while Vault is sealed: Decrypt cannot have worked")
	} else {
		t.Logf("read while sealed (fresh apiserver): HTTP %d %s", status, strings.TrimSpace(string(body)))
	}

	// Unseal: everything recovers without restarting anything.
	pluginStarts, apiStarts := c.plugin.starts, c.api.restarts
	if err := env.bao.unseal(); err != nil {
		t.Fatal(err)
	}
	unsealedAt := time.Now()
	if err := waitFor("writes after unseal", 120*time.Second, 2*time.Second, func() error {
		status, body, err := c.api.createSecret(ns, "after-unseal", map[string]string{"key": "after"})
		if err != nil {
			return err
		}
		if status != http.StatusCreated && status != http.StatusConflict {
			return fmt.Errorf("HTTP %d: %s", status, body)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want["after-unseal"] = "after"
	if err := c.api.waitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("unsealed: writes and /readyz ok %s later", time.Since(unsealedAt).Round(time.Second))
	expectAll(t, c, ns, want)
	if c.plugin.starts != pluginStarts || c.api.restarts != apiStarts || !c.plugin.proc.running() {
		t.Errorf("recovery needed a restart")
	}
}

// 4b. The plugin crashes (SIGKILL, its socket file stays), the Transit key is
// rotated while it is down, and it is started again with the same flags.
func TestPluginCrashAndRotationWhileDown(t *testing.T) {
	c := newCluster(t, v2Cluster)
	ns := "cp-crash"
	if err := c.api.createNamespace(ns); err != nil {
		t.Fatal(err)
	}
	want := createSecrets(t, c, ns, "before", 20)
	c.plugin.kill()
	if err := env.bao.rotate(); err != nil {
		t.Fatal(err)
	}
	newKeyID, _ := env.bao.latestKeyID()
	if err := c.plugin.start(); err != nil {
		t.Fatal(err)
	}
	// kube-apiserver reconnects on its own and picks up the new key_id.
	took := waitForKeyID(t, c, ns, newKeyID, want)
	t.Logf("plugin restarted after SIGKILL: new Secrets carry key_id %q %s later", newKeyID, took.Round(time.Second))
	expectAll(t, c, ns, want)
	// Nothing lost: a fresh apiserver decrypts both key versions through the
	// restarted plugin.
	if err := c.api.restart(); err != nil {
		t.Fatal(err)
	}
	expectAll(t, c, ns, want)
	list, status, body, err := c.api.listSecrets(ns)
	if err != nil || status != http.StatusOK {
		t.Fatalf("list: HTTP %d %v: %s", status, err, body)
	}
	if len(list.Items) != len(want) {
		t.Errorf("list has %d Secrets, want %d", len(list.Items), len(want))
	}
}

// 5. KMS v1 behind kube-apiserver's KMSv1 feature gate (deprecated, off by
// default since 1.29, still present in 1.37).
func TestKMSv1(t *testing.T) {
	c := newCluster(t, clusterOptions{
		api:      apiServerOptions{providers: []kmsProvider{providerV1}, kmsV1Gate: true},
		servesV1: true,
	})
	ns := "cp-v1"
	if err := c.api.createNamespace(ns); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i < 10; i++ {
		name, value := fmt.Sprintf("v1-%d", i), plaintextMarker(t)
		if err := c.api.mustCreateSecret(ns, name, map[string]string{"key": value}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.readStored(ns, name, value, providerV1); err != nil {
			t.Fatal(err)
		}
		want[name] = value
	}
	expectAll(t, c, ns, want)
	ok, body, err := c.api.health("/healthz/kms-provider-0")
	if err != nil || !ok {
		t.Errorf("/healthz/kms-provider-0 = %q (%v), want ok", body, err)
	}
	if err := c.api.restart(); err != nil {
		t.Fatal(err)
	}
	expectAll(t, c, ns, want)
}

// --- helpers

// createSecrets creates n Secrets named <prefix>-<i>, each with its own value.
func createSecrets(t *testing.T, c *cluster, ns, prefix string, n int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 0; i < n; i++ {
		name, value := fmt.Sprintf("%s-%d", prefix, i), plaintextMarker(t)
		if err := c.api.mustCreateSecret(ns, name, map[string]string{"key": value}); err != nil {
			t.Fatal(err)
		}
		out[name] = value
	}
	return out
}

// expectAll reads every Secret back by name and in one list.
func expectAll(t *testing.T, c *cluster, ns string, want map[string]string) {
	t.Helper()
	for name, value := range want {
		if err := c.expectSecret(ns, name, map[string]string{"key": value}); err != nil {
			t.Fatal(err)
		}
	}
	list, status, body, err := c.api.listSecrets(ns)
	if err != nil || status != http.StatusOK {
		t.Fatalf("list %s: HTTP %d %v: %s", ns, status, err, body)
	}
	seen := 0
	for _, s := range list.Items {
		if v, ok := want[s.Metadata.Name]; ok {
			if string(s.Data["key"]) != v {
				t.Fatalf("list %s: %s has %q, want %q", ns, s.Metadata.Name, s.Data["key"], v)
			}
			seen++
		}
	}
	if seen != len(want) {
		t.Fatalf("list %s: %d of %d Secrets", ns, seen, len(want))
	}
}

// waitForKeyID creates a probe Secret every few seconds, each time after a
// health request (which makes kube-apiserver call Status once its last answer
// is 20 s old), until a new one is stored under keyID. It returns how long
// that took and adds the probes to want.
func waitForKeyID(t *testing.T, c *cluster, ns, keyID string, want map[string]string) time.Duration {
	t.Helper()
	start := time.Now()
	probe := 0
	var last string
	err := waitFor("new Secrets under key_id "+keyID, rotationBound, 3*time.Second, func() error {
		_, _, _ = c.api.health("/healthz/kms-providers")
		name, value := fmt.Sprintf("probe-%d", probe), plaintextMarker(t)
		probe++
		status, body, err := c.api.createSecret(ns, name, map[string]string{"key": value})
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("create %s: HTTP %d: %s", name, status, body)
		}
		want[name] = value
		stored, err := c.readStored(ns, name, value, providerV2)
		if err != nil {
			return err
		}
		if last = stored.keyID; last != keyID {
			return fmt.Errorf("%s stored under key_id %q", name, last)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}
