// The suite of ../openbao-real.test.ts, on HashiCorp Vault (Community Edition) instead of OpenBao.
import { runSuiteOnVault } from '../../support/real-server';

runSuiteOnVault('openbao-real', () => require('../openbao-real.test'));
