# Vault policy for vault-kubernetes-kms with the Transit engine mounted at "transit" and a
# key named "kms". Other names: change the three transit paths to match.
#   vault policy write kms manifests/kms-policy.hcl

# Look up the plugin's own token (TTL checks before renewal, login verification).
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Renew the plugin's own token. Vault's default policy grants this too; listing it here
# keeps the plugin working when the token or role is created without the default policy.
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# Wrap data keys (single and batch requests use the same path).
path "transit/encrypt/kms" {
  capabilities = ["update"]
}

# Unwrap data keys.
path "transit/decrypt/kms" {
  capabilities = ["update"]
}

# Read the key's latest_version: the KMS v2 key_id.
path "transit/keys/kms" {
  capabilities = ["read"]
}
