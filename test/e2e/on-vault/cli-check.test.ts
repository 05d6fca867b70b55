// The suite of ../cli-check.test.ts, on HashiCorp Vault (Community Edition) instead of OpenBao.
import { runSuiteOnVault } from '../../support/real-server';

runSuiteOnVault('cli-check', () => require('../cli-check.test'));
