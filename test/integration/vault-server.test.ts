/**
 * Tests of the Vault test server (test/support/vault-server) over real HTTP.
 * The cases live next to the server in self-test/ to keep files small; this
 * file is the only entry point the test runner sees.
 */
import { authAndSysCases } from '../support/vault-server/self-test/auth-sys.cases';
import { cliAndTlsCases } from '../support/vault-server/self-test/cli-tls.cases';
import { envelopeAndCryptoCases } from '../support/vault-server/self-test/envelope-crypto.cases';
import { faultAndControlCases } from '../support/vault-server/self-test/faults-control.cases';
import { tokenCases } from '../support/vault-server/self-test/tokens.cases';
import { transitCases } from '../support/vault-server/self-test/transit.cases';

envelopeAndCryptoCases();
transitCases();
tokenCases();
authAndSysCases();
faultAndControlCases();
cliAndTlsCases();
