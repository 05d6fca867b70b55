// The suite of ../auth-methods.test.ts, on HashiCorp Vault (Community Edition) instead of OpenBao.
import { runSuiteOnVault } from '../../support/real-server';

runSuiteOnVault('auth-methods', () => require('../auth-methods.test'));
