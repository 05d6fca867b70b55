import type * as undici from 'undici';

/**
 * undici's two connection pools, loaded from their own modules: undici's index
 * also loads fetch, WebSocket, EventSource, caches and mocks, which the plugin
 * never uses and which cost about 43 ms of CPU at start-up (docs/benchmarks.md).
 * undici has no "exports" map, so nothing promises these paths:
 * test/integration/undici-dispatchers.test.ts fails when an upgrade moves them.
 * The types are the index's. The one thing the index does besides exporting is
 * to give every Dispatcher the request/stream/pipeline/connect/upgrade methods
 * (the HTTP client sends with request(), ProxyAgent tunnels with connect()):
 * done here the same way.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const Dispatcher: { prototype: object } = require('undici/lib/dispatcher/dispatcher');
Object.assign(Dispatcher.prototype, require('undici/lib/api'));

export const Agent: typeof undici.Agent = require('undici/lib/dispatcher/agent');
export const ProxyAgent: typeof undici.ProxyAgent = require('undici/lib/dispatcher/proxy-agent');
