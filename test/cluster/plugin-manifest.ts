import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/plugin-process';

/** The example values of manifests/static-pod-*.yaml that an operator replaces, and nothing else. */
export interface ManifestValues {
  readonly image: string;
  readonly vaultAddr: string;
  /** The node directory the `/opt/kms` hostPath points at. */
  readonly kmsHostPath: string;
  readonly roleId?: string;
}

function replaceOnce(text: string, from: string, to: string, file: string): string {
  const parts = text.split(from);
  if (parts.length !== 2) throw new Error(`${file}: expected "${from}" exactly once, found it ${parts.length - 1} times`);
  return parts.join(to);
}

/** manifests/<file> as it is, with only the image, the Vault address, the role ID and the hostPath substituted. */
export function pluginManifest(file: 'static-pod-token.yaml' | 'static-pod-approle.yaml', v: ManifestValues): string {
  let text = readFileSync(join(REPO_ROOT, 'manifests', file), 'utf8');
  text = replaceOnce(text, 'image: registry.example.com/vault-kubernetes-kms:0.1.0', `image: ${v.image}`, file);
  text = replaceOnce(text, '-vault-address=https://vault.example.com:8200', `-vault-address=${v.vaultAddr}`, file);
  text = replaceOnce(text, '        path: /opt/kms\n', `        path: ${v.kmsHostPath}\n`, file);
  if (file === 'static-pod-approle.yaml') text = replaceOnce(text, '<ROLE_ID>', v.roleId ?? '', file);
  return text;
}
