import type * as undici from 'undici';

/**
 * undici's two connection pools, loaded from their own modules: undici's index
 * also loads fetch, WebSocket, EventSource, caches and mocks, which the plugin
 * never uses and which cost about 80 ms of start-up (half of a bare Node.js
 * process's). undici has no "exports" map, so these paths are part of what
 * its package ships; the types are the index's.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
export const Agent: typeof undici.Agent = require('undici/lib/dispatcher/agent');
export const ProxyAgent: typeof undici.ProxyAgent = require('undici/lib/dispatcher/proxy-agent');
