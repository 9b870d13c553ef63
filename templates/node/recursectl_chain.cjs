'use strict';
// recursectl's chain guard for Node.js handlers: the entry point (Handler
// `recursectl_chain.handler`, your handler in RECURSECTL_HANDLER). The guard is the file next
// to it, recursectl_chain.guard.cjs. This one stays this small on purpose: ric 4.x import()s
// it, and Node's CommonJS export lexer reads every byte of an imported .cjs file (the guard's
// 25 KB cost ~17 ms of CPU at cold start, measured on Node 20).
const loaded = require(`${__dirname}/recursectl_chain.guard.cjs`);
// First: the user's module (loaded by start) may require this file for `job`.
exports.job = loaded.job;
const guard = loaded.start(module);

exports.handler = guard.handler;
exports.then = guard.then;
