package conformance

// The tests run in file order (go test runs top-level tests sequentially in
// source order). Each one is self-contained and can also be run alone with
// -run; the last one additionally re-reads everything the earlier ones wrote.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/storage/value"
	kmstypes "k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2"
)

var (
	pV2 = provider{"v2", v2Name}
	pV1 = provider{"v1", v1Name}
)

// TestKMSv2WriteReadAndDEKSeedReuse: 1,000 writes through one apiserver
// transformer: KMS v2 prefix, no plaintext in storage, one shared encrypted DEK
// seed, byte-identical reads.
func TestKMSv2WriteReadAndDEKSeedReuse(t *testing.T) {
	l := loadHealthy(t, pV2)
	t.Logf("health checks registered by the loader: %v", l.checkNames())

	const n = 1000
	objs := make([]*object, 0, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		gr := grSecrets
		if i%2 == 1 {
			gr = grConfigMaps
		}
		extra := i % 512
		if i == 500 {
			extra = 1 << 20 // one ~1.3 MiB object (close to etcd's value limit)
		}
		objs = append(objs, write(t, l, pV2, gr, fmt.Sprintf("ns-%d", i%7), fmt.Sprintf("obj-%04d", i), extra))
	}
	t.Logf("%d writes took %s", n, time.Since(start).Round(time.Millisecond))

	first := objs[0].eo
	t.Logf("plugin key_id=%q encryptedDEKSource=%d bytes annotations=%v encryptedDEKSourceType=%v",
		first.KeyID, len(first.EncryptedDEKSource), annotationSummary(first.Annotations), first.EncryptedDEKSourceType)
	if first.EncryptedDEKSourceType != kmstypes.EncryptedDEKSourceType_HKDF_SHA256_XNONCE_AES_GCM_SEED {
		t.Errorf("harness: expected the KDF seed mode of Kubernetes >= 1.29, got %v", first.EncryptedDEKSourceType)
	}
	seenData := map[string]bool{}
	for i, o := range objs {
		if !bytes.Equal(o.eo.EncryptedDEKSource, first.EncryptedDEKSource) || o.eo.KeyID != first.KeyID {
			t.Fatalf("%s\nwrite #%d (%s) carries encryptedDEKSource %s key_id %q, write #0 carried %s key_id %q",
				ruleSeedReuse, i, o.key, short(o.eo.EncryptedDEKSource), o.eo.KeyID, short(first.EncryptedDEKSource), first.KeyID)
		}
		if seenData[string(o.eo.EncryptedData)] {
			t.Fatalf("harness: two writes produced identical encryptedData (%s)", o.key)
		}
		seenData[string(o.eo.EncryptedData)] = true
	}

	start = time.Now()
	for _, o := range objs {
		if stale := read(t, l, o, ruleV2RoundTrip); stale {
			t.Fatalf("%s\n%s read back as stale although key_id %q did not change", ruleKeyIDStable, o.key, o.eo.KeyID)
		}
	}
	t.Logf("%d reads took %s; vault stats: %s", n, time.Since(start).Round(time.Millisecond), vaultStats())
	remember(objs...)
}

// TestKMSv2ColdStartDecrypt: what an apiserver restart does. The writer's
// process (connection, caches) goes away; a brand-new load must read
// everything, which needs the plugin's Decrypt of the stored seed.
func TestKMSv2ColdStartDecrypt(t *testing.T) {
	w := loadHealthy(t, pV2)
	var objs []*object
	for i := 0; i < 50; i++ {
		objs = append(objs, write(t, w, pV2, grSecrets, "cold", fmt.Sprintf("cold-%02d", i), i*13))
	}
	w.close() // "process exit": gRPC connection closed, seed cache gone

	r := loadHealthy(t, pV2)
	curKeyID, probe := currentKeyID(t, r)
	if bytes.Equal(probe.eo.EncryptedDEKSource, objs[0].eo.EncryptedDEKSource) {
		t.Fatalf("%s\nthe restarted transformer's new seed was encrypted to the same ciphertext as the previous one (%s)", ruleDistinctCipher, short(probe.eo.EncryptedDEKSource))
	}
	for _, o := range objs {
		stale := read(t, r, o, ruleColdDecrypt)
		if want := o.eo.KeyID != curKeyID; stale != want {
			t.Fatalf("%s\n%s: stale=%v, want %v (stored key_id %q, current %q)", ruleStale, o.key, stale, want, o.eo.KeyID, curKeyID)
		}
	}
	remember(objs...)
}

// TestKMSv2ConcurrentColdDecrypts: 100 goroutines read objects written under
// five different DEK seeds at once through a fresh transformer (cold cache),
// like watch-cache initialisation: many parallel, identical Decrypt calls.
func TestKMSv2ConcurrentColdDecrypts(t *testing.T) {
	const writers, perWriter = 5, 20
	var objs []*object
	seeds := map[string]int{}
	for wi := 0; wi < writers; wi++ {
		w := loadHealthy(t, pV2)
		for i := 0; i < perWriter; i++ {
			gr := grSecrets
			if i%2 == 1 {
				gr = grConfigMaps
			}
			objs = append(objs, write(t, w, pV2, gr, fmt.Sprintf("conc-%d", wi), fmt.Sprintf("c-%02d", i), i*31))
		}
		seeds[string(objs[len(objs)-1].eo.EncryptedDEKSource)] = wi
		w.close()
	}
	if len(seeds) != writers {
		t.Fatalf("%s\n%d transformer loads produced only %d distinct encryptedDEKSource values", ruleDistinctCipher, writers, len(seeds))
	}
	for round := 1; round <= 3; round++ {
		r := loadHealthy(t, pV2)
		start := time.Now()
		errs := parallel(len(objs), func(i int) error {
			o := objs[i]
			out, _, err := readErr(r, o)
			if err != nil {
				return fmt.Errorf("%s: %w", o.key, err)
			}
			if !bytes.Equal(out, o.plaintext) {
				return fmt.Errorf("%s: read back %d bytes that differ from the %d written", o.key, len(out), len(o.plaintext))
			}
			return nil
		})
		if len(errs) > 0 {
			t.Fatalf("%s\nround %d: %d of %d concurrent reads failed; first: %v", ruleConcurrency, round, len(errs), len(objs), firstN(errs, 3))
		}
		t.Logf("round %d: %d concurrent cold reads over %d seeds took %s", round, len(objs), writers, time.Since(start).Round(time.Millisecond))
		r.close()
	}
	remember(objs...)
}

// TestKMSv1RoundTrip: the deprecated KMS v1 (v1beta1) API with the KMSv1
// feature gate on: lazy Version check, one Encrypt per write, health check
// Encrypt("ping")+Decrypt, cold reads through a fresh transformer.
func TestKMSv1RoundTrip(t *testing.T) {
	enableKMSv1(t)
	l := loadHealthy(t, pV1)
	t.Logf("health checks registered by the loader: %v", l.checkNames())
	const n = 200
	var objs []*object
	deks := map[string]bool{}
	for i := 0; i < n; i++ {
		o := write(t, l, pV1, grSecrets, "v1", fmt.Sprintf("v1-%03d", i), i*7)
		if deks[string(o.v1DEK)] {
			t.Fatalf("%s\nKMS v1 write #%d got an encrypted DEK identical to an earlier write's (%s); every write sends a new random DEK", ruleDistinctCipher, i, short(o.v1DEK))
		}
		deks[string(o.v1DEK)] = true
		objs = append(objs, o)
	}
	t.Logf("v1 encrypted DEK length: %d bytes", len(objs[0].v1DEK))
	for _, o := range objs {
		read(t, l, o, ruleV1RoundTrip)
	}
	l.close()

	r := loadHealthy(t, pV1)
	errs := parallel(len(objs), func(i int) error {
		o := objs[i]
		out, _, err := readErr(r, o)
		if err != nil {
			return fmt.Errorf("%s: %w", o.key, err)
		}
		if !bytes.Equal(out, o.plaintext) {
			return fmt.Errorf("%s: read back differs", o.key)
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatalf("%s / %s\n%d of %d concurrent cold v1 reads failed; first: %v", ruleV1RoundTrip, ruleConcurrency, len(errs), len(objs), firstN(errs, 3))
	}
	remember(objs...)
}

// TestHealthChecksFollowVaultSeal: the health checks kube-apiserver evaluates
// for /healthz/kms-providers and /readyz (v2 and v1) must fail while Vault is
// sealed and pass again after it is unsealed.
func TestHealthChecksFollowVaultSeal(t *testing.T) {
	enableKMSv1(t)
	v2 := loadHealthy(t, pV2)
	v1 := loadHealthy(t, pV1)
	keyBefore, _ := currentKeyID(t, v2)

	// An object whose seed the reader has never seen: reading it needs a Decrypt.
	cw := loadHealthy(t, pV2)
	var cold []*object
	for i := 0; i < 3; i++ {
		cold = append(cold, write(t, cw, pV2, grSecrets, "sealed", fmt.Sprintf("cold-%d", i), 0))
	}
	cw.close()
	coldReader := loadHealthy(t, pV2)

	if _, err := vaultRequest("POST", "/_test/seal", ""); err != nil {
		t.Fatalf("harness: sealing the proxied OpenBao: %v", err)
	}
	sealed := true
	t.Cleanup(func() {
		if sealed {
			_, _ = vaultRequest("POST", "/_test/unseal", "")
		}
	})
	sealedAt := time.Now()

	errV2, took := v2.waitHealth(t, false, 90*time.Second, ruleHealthSealed+" [KMS v2 check]")
	t.Logf("v2 health failed %s after seal: %v", took.Round(time.Millisecond), errV2)
	errV1, took := v1.waitHealth(t, false, 90*time.Second, ruleHealthSealed+" [KMS v1 check]")
	t.Logf("v1 health failed %s after seal: %v", took.Round(time.Millisecond), errV1)

	// A restart while Vault is sealed must come up unhealthy (prime: Status, then Encrypt).
	restarted := load(t, pV2)
	if err := restarted.health(); err == nil {
		t.Fatalf("%s\nan apiserver (re)started while Vault is sealed passed its KMS v2 health check", ruleHealthSealed)
	} else {
		t.Logf("restart while sealed: health error (expected): %v", err)
	}

	// Informational: the apiserver keeps writing with its cached seed for up to 3 min.
	if _, err := v2.transformer(grSecrets).TransformToStorage(t.Context(), []byte("x"), value.DefaultContext("/registry/secrets/sealed/while-sealed")); err != nil {
		t.Logf("write while sealed failed (apiserver seed expired?): %v", err)
	}
	coldFailed := false
	for _, o := range cold {
		out, _, err := readErr(coldReader, o)
		switch {
		case err != nil:
			coldFailed = true
			t.Logf("cold read while sealed failed as expected: %v", err)
		case !bytes.Equal(out, o.plaintext):
			t.Fatalf("%s\ncold read of %s while sealed returned wrong bytes", ruleV2RoundTrip, o.key)
		default:
			t.Logf("cold read of %s while sealed succeeded (plugin answered Decrypt without Vault)", o.key)
		}
	}

	if _, err := vaultRequest("POST", "/_test/unseal", ""); err != nil {
		t.Fatalf("harness: unsealing the proxied OpenBao: %v", err)
	}
	sealed = false
	t.Logf("vault was sealed for %s", time.Since(sealedAt).Round(time.Millisecond))

	_, took = v2.waitHealth(t, true, 90*time.Second, ruleHealthRecover+" [KMS v2 check]")
	t.Logf("v2 health recovered %s after unseal", took.Round(time.Millisecond))
	_, took = v1.waitHealth(t, true, 90*time.Second, ruleHealthRecover+" [KMS v1 check]")
	t.Logf("v1 health recovered %s after unseal", took.Round(time.Millisecond))
	// The apiserver retries a failed start every 10 s in the background.
	_, took = restarted.waitHealth(t, true, 60*time.Second, ruleHealthRecover+" [apiserver started while sealed]")
	t.Logf("apiserver started while sealed became healthy %s after unseal", took.Round(time.Millisecond))

	for _, o := range cold {
		rule := ruleColdDecrypt
		if coldFailed {
			rule = ruleRecoverDecrypt
		}
		read(t, coldReader, o, rule)
		read(t, restarted, o, ruleColdDecrypt)
	}
	if keyAfter, _ := currentKeyID(t, v2); keyAfter != keyBefore {
		t.Fatalf("%s\nkey_id changed across seal/unseal without a KEK rotation: %q -> %q", ruleKeyIDStable, keyBefore, keyAfter)
	}
	remember(cold...)
}

// TestKeyRotation: rotate the Transit key; the apiserver's client must pick up
// the new key_id (driven through the health check, i.e. the Status call), new
// writes must carry it, and objects written before must read back and be stale.
func TestKeyRotation(t *testing.T) {
	a := loadHealthy(t, pV2)
	k1, _ := currentKeyID(t, a)
	var before []*object
	for i := 0; i < 20; i++ {
		before = append(before, write(t, a, pV2, grSecrets, "rotation", fmt.Sprintf("before-%02d", i), i))
	}
	seedBefore := before[0].eo.EncryptedDEKSource
	t.Logf("before rotation: key_id=%q; transit key: %s", k1, transitKeySummary())

	if _, err := vaultRequest("POST", "/v1/transit/keys/kms/rotate", env.vault.RootToken); err != nil {
		t.Fatalf("harness: rotating the transit key: %v", err)
	}
	rotatedAt := time.Now()
	t.Logf("rotated; transit key: %s", transitKeySummary())

	// Poll like kube-apiserver's /readyz probe does (Status at most every 20 s
	// per probe), and meanwhile (re)start apiservers once a second: each one
	// runs Status then Encrypt and requires both to agree on key_id.
	const deadline = 150 * time.Second
	var (
		k2            string
		pickedUpAfter time.Duration
		freshSeq      []string // key_ids seen by consecutive fresh loads
		healthErrs    []string
	)
	for {
		pluginAlive(t)
		if err := a.health(); err != nil {
			healthErrs = append(healthErrs, fmt.Sprintf("+%s running apiserver: %v", time.Since(rotatedAt).Round(time.Millisecond), err))
		}
		f := load(t, pV2)
		if err := f.health(); err != nil {
			healthErrs = append(healthErrs, fmt.Sprintf("+%s freshly started apiserver: %v", time.Since(rotatedAt).Round(time.Millisecond), err))
		} else {
			kid, _ := currentKeyID(t, f)
			if len(freshSeq) == 0 || freshSeq[len(freshSeq)-1] != kid {
				freshSeq = append(freshSeq, kid)
			}
		}
		f.close()
		if k2 == "" {
			if kid, _ := currentKeyID(t, a); kid != k1 {
				k2, pickedUpAfter = kid, time.Since(rotatedAt)
			}
		}
		// Done when the running apiserver switched and fresh ones have settled on k2.
		if k2 != "" && len(freshSeq) > 0 && freshSeq[len(freshSeq)-1] == k2 {
			break
		}
		if time.Since(rotatedAt) > deadline {
			break
		}
		time.Sleep(time.Second)
	}
	if len(healthErrs) > 0 {
		// Not fatal: report it and go on checking the rest of the rotation contract.
		t.Errorf("%s\n%d health check failures after rotation (a failed DEK rotation keeps the apiserver unhealthy and, at start, blocks all reads):\n%s\ndiagnosis of the first: %s",
			ruleEncryptKeyID, len(healthErrs), strings.Join(firstNStrings(healthErrs, 5), "\n"), diagnose(errors.New(healthErrs[0])))
	}
	if k2 == "" {
		t.Fatalf("%s\nthe running apiserver still writes with key_id %q %s after the rotation; key_ids seen by fresh starts: %q; transit key: %s",
			ruleRotationKeyID, k1, deadline, freshSeq, transitKeySummary())
	}
	t.Logf("running apiserver picked up key_id %q %s after rotation (old %q); fresh starts saw %q", k2, pickedUpAfter.Round(time.Millisecond), k1, freshSeq)
	if len(freshSeq) > 2 || (len(freshSeq) == 2 && freshSeq[0] != k1) {
		t.Fatalf("%s\nkey_ids reported to consecutive fresh starts after ONE rotation: %q (want %q then %q)", ruleKeyIDStable, freshSeq, k1, k2)
	}
	// Stability: more starts all see k2.
	for i := 0; i < 3; i++ {
		f := loadHealthy(t, pV2)
		if kid, _ := currentKeyID(t, f); kid != k2 {
			t.Fatalf("%s\nfresh start #%d after rotation got key_id %q, earlier ones %q", ruleKeyIDStable, i, kid, k2)
		}
		f.close()
	}

	var after []*object
	for i := 0; i < 20; i++ {
		o := write(t, a, pV2, grSecrets, "rotation", fmt.Sprintf("after-%02d", i), i)
		if o.eo.KeyID != k2 {
			t.Fatalf("%s\nwrite after rotation carries key_id %q, want %q", ruleRotationKeyID, o.eo.KeyID, k2)
		}
		if bytes.Equal(o.eo.EncryptedDEKSource, seedBefore) {
			t.Fatalf("%s\nwrite after rotation reuses the pre-rotation encryptedDEKSource", ruleDistinctCipher)
		}
		after = append(after, o)
	}

	for _, o := range before {
		if stale := read(t, a, o, ruleOldKeyDecrypt); !stale {
			t.Fatalf("%s\n%s (key_id %q) read back with stale=false after key_id changed to %q", ruleStale, o.key, o.eo.KeyID, k2)
		}
	}
	for _, o := range after {
		if stale := read(t, a, o, ruleV2RoundTrip); stale {
			t.Fatalf("%s\n%s written with the current key_id %q read back stale", ruleStale, o.key, k2)
		}
	}
	// A restart after rotation: Decrypt with the OLD key_id on a cold cache.
	r := loadHealthy(t, pV2)
	for _, o := range before {
		if stale := read(t, r, o, ruleOldKeyDecrypt); !stale {
			t.Fatalf("%s\n%s (key_id %q) read back with stale=false by a fresh apiserver on key_id %q", ruleStale, o.key, o.eo.KeyID, k2)
		}
	}
	for _, o := range after {
		read(t, r, o, ruleColdDecrypt)
	}
	remember(before...)
	remember(after...)
}

// TestRestartReadsEverything: a brand-new apiserver (fresh load) configured for
// a v1 -> v2 migration ([kms v2, kms v1, identity]) reads every object written
// by all the earlier tests: old and new key_ids, many seeds, v1 DEKs.
func TestRestartReadsEverything(t *testing.T) {
	enableKMSv1(t)
	objs := remembered()
	if len(objs) == 0 {
		w := loadHealthy(t, pV2)
		for i := 0; i < 10; i++ {
			objs = append(objs, write(t, w, pV2, grSecrets, "restart", fmt.Sprintf("r-%d", i), i))
		}
		w.close()
	}
	r := loadHealthy(t, pV2, pV1)
	t.Logf("health checks registered by the loader: %v", r.checkNames())
	cur, _ := currentKeyID(t, r) // also proves writes now go to the v2 provider
	counts := map[string]int{}
	start := time.Now()
	errs := parallelPool(16, len(objs), func(i int) error {
		o := objs[i]
		out, stale, err := readErr(r, o)
		if err != nil {
			return fmt.Errorf("%s (%s, %s): %w", o.key, o.provider.apiVersion, keyIDOf(o), err)
		}
		if !bytes.Equal(out, o.plaintext) {
			return fmt.Errorf("%s: read back differs", o.key)
		}
		wantStale := o.provider.apiVersion == "v1" || o.eo.KeyID != cur
		if stale != wantStale {
			return fmt.Errorf("%s %s: stale=%v, want %v", ruleStale, o.key, stale, wantStale)
		}
		return nil
	})
	for _, o := range objs {
		counts[o.provider.apiVersion+" "+keyIDOf(o)]++
	}
	if len(errs) > 0 {
		t.Fatalf("%s / %s\n%d of %d reads failed; first: %v", ruleColdDecrypt, ruleOldKeyDecrypt, len(errs), len(objs), firstN(errs, 3))
	}
	t.Logf("read back %d objects in %s: %v; vault stats: %s", len(objs), time.Since(start).Round(time.Millisecond), counts, vaultStats())
}

func keyIDOf(o *object) string {
	if o.eo != nil {
		return "key_id=" + o.eo.KeyID
	}
	return "v1"
}

func annotationSummary(a map[string][]byte) []string {
	var s []string
	for k, v := range a {
		s = append(s, fmt.Sprintf("%s(%dB)", k, len(v)))
	}
	sort.Strings(s)
	return s
}

func transitKeySummary() string {
	b, err := vaultRequest("GET", "/v1/transit/keys/kms", env.vault.RootToken)
	if err != nil {
		return fmt.Sprintf("(unavailable: %v)", err)
	}
	var r struct {
		Data struct {
			LatestVersion        int `json:"latest_version"`
			MinDecryptionVersion int `json:"min_decryption_version"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &r) != nil {
		return strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("latest_version=%d min_decryption_version=%d", r.Data.LatestVersion, r.Data.MinDecryptionVersion)
}

func firstN(errs []error, n int) []error {
	if len(errs) > n {
		return errs[:n]
	}
	return errs
}

func firstNStrings(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}

// parallelPool runs fn(i) for i in [0,n) on `workers` goroutines.
func parallelPool(workers, n int, fn func(i int) error) []error {
	idx := make(chan int)
	res := make(chan error, n)
	for w := 0; w < workers; w++ {
		go func() {
			for i := range idx {
				res <- fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		idx <- i
	}
	close(idx)
	var errs []error
	for i := 0; i < n; i++ {
		if err := <-res; err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
