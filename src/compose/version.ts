import pkg from '../../package.json';
import { BUILD_COMMIT } from '../build-info.generated';

export const VERSION: string = pkg.version;

/** -version: ours, the commit the build came from (scripts/gen-build-info.mjs), and the runtime. */
export function versionText(): string {
  return `vault-kubernetes-kms v${VERSION}\ncommit: ${BUILD_COMMIT}\nnode: ${process.version}\n`;
}
