// The suite of ../ha-raft.test.ts, on HashiCorp Vault (Community Edition) instead of OpenBao.
import { runSuiteOnVault } from '../../support/real-server';

runSuiteOnVault('ha-raft', () => require('../ha-raft.test'));
