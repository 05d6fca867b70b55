// Package conformance proves the vault-kubernetes-kms plugin against
// kube-apiserver's own KMS client code (k8s.io/apiserver).
//
// Everything lives in the _test.go files of this package: TestMain starts the
// real OpenBao behind the fault proxy and the plugin as subprocesses, and the
// tests drive the plugin exclusively through the storage transformers and
// health checks returned by encryptionconfig.LoadEncryptionConfig, i.e.
// exactly the code kube-apiserver runs. See README.md.
package conformance
