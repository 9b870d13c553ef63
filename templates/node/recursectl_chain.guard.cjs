'use strict';
// recursectl's chain guard for Node.js handlers, packaged next to your code by `recursectl deploy`
// with its entry point, recursectl_chain.cjs.
//
// The function's Handler is `recursectl_chain.handler`; your own handler, in Lambda's form
// (`handler.recursiveExample`, `src/app.main`), is in RECURSECTL_HANDLER. The guard loads it
// during init, writes one `hop` marker per invocation, calls it with the event minus
// `_recursectl`, and watches every Lambda Invoke it makes of this very function through
// `@aws-sdk/client-lambda`: the child's chain context is added to the payload, and the call is
// refused (an Error in your handler, and a `capped` or `stopped` marker) when the depth cap,
// the chain's budget or the kill switch forbids it. Invokes of other functions are untouched.
//
// It implements src/recursectl/protocol.py (the contract, shared with the Python helper) and
// depends on nothing but Node itself. Markers are single stdout lines
//     RECURSECTL_CHAIN {"v":1,"ev":"hop",...}
// written straight to fd 1, not with console.log: the runtime's console prefixes
// `timestamp<TAB>requestId<TAB>INFO<TAB>`; a raw line is one CloudWatch Logs event as it is.

const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { AsyncLocalStorage } = require('node:async_hooks');

const VERSION = 1;
const MARKER = 'RECURSECTL_CHAIN';
const CONTEXT_KEY = '_recursectl';
const SELF_ARN_ENV = 'RECURSECTL_SELF_ARN';
const MAX_CALLS_ENV = 'RECURSECTL_MAX_CALLS';
const MAX_INVOCATIONS_ENV = 'RECURSECTL_MAX_INVOCATIONS';
const GENERATION_ENV = 'RECURSECTL_GENERATION';
const HANDLER_ENV = 'RECURSECTL_HANDLER';
// The chain counter's DynamoDB table (deploy creates it): set = exact budget, else the split rule.
const COUNTER_TABLE_ENV = 'RECURSECTL_COUNTER_TABLE';
const COUNTER_TTL_S = 2 * 24 * 3600;
const GB_SECOND_USD = { x86_64: 0.0000166667, arm64: 0.0000133334 };
const REQUEST_USD = 0.2 / 1e6;
const DEFAULT_MAX_CALLS = 25;
const DEFAULT_MAX_INVOCATIONS = 1000;
// Marker events (protocol.EVENTS, but `dropped`: the local cloud's).
const EV_HOP = 'hop';
const EV_CHILD = 'child';
const EV_CAPPED = 'capped';
const EV_STOPPED = 'stopped';
const EV_CHILD_FAILED = 'child_failed';
const EV_CHECKPOINT = 'checkpoint';
const EV_JOB = 'job';
const EV_DUPLICATE = 'duplicate';
// Long jobs (docs/jobs.md): the job's context is the chain context's JOB_KEY.
const JOB_KEY = 'job';
const JOB_BUCKET_ENV = 'RECURSECTL_JOB_BUCKET';
const JOB_BOUNDS_ENV = 'RECURSECTL_JOB_BOUNDS';
const JOB_MARGIN_ENV = 'RECURSECTL_JOB_MARGIN_MS';
const DEFAULT_JOB_MAX_HOPS = 1000;
const DEFAULT_JOB_MAX_SECONDS = 6 * 3600;
const JOB_RECORD_PREFIX = 'job#';
const JOB_INLINE_PAYLOAD = 256 * 1024;
const JOB_INLINE_CHECKPOINT = 64 * 1024;
const JOB_MAX_ATTEMPTS = 3;
const JOB_STATE_PREFIX = 'recursectl/';
const JOB_STATE_TTL_DAYS = 14; // the bucket's lifecycle rule; a hop's claim expires with it
const SDK_MODULE = '@aws-sdk/client-lambda';
const PATCHED = Symbol.for('recursectl.chain.patched');
const HOOKED = Symbol.for('recursectl.chain.retryVeto');
const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HIGH_WATER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');

// ---- the runtime's own errors (aws-lambda-ric: Errors.js in 3.x, utils/errors.js in 4.x) ----
function runtimeError(name) {
  const cls = class extends Error {};
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');

// ---- refusals, thrown in the handler at the Invoke it made (the Python helper's names) ----
function refusal(name, base) {
  const cls = class extends base {};
  cls.prototype.name = name;
  return cls;
}
const ChainRefused = refusal('ChainRefused', Error);
const DepthCapReached = refusal('DepthCapReached', ChainRefused);
const BudgetExhausted = refusal('BudgetExhausted', ChainRefused);
const ChainStopped = refusal('ChainStopped', ChainRefused);
const PayloadNotObject = refusal('PayloadNotObject', ChainRefused);
const CostCapReached = refusal('CostCapReached', ChainRefused);
const CounterUnreachable = refusal('CounterUnreachable', ChainRefused);

// ---- the chain counter (one DynamoDB item per chain; the runtime provides the SDK) ----
let counterClient = null;
let counterSdk = null;
// The init phase as the guard sees it (from its load to the first invocation): AWS bills it
// with that invocation, so the cost cap counts it there (see the Python helper).
const LOADED = process.hrtime.bigint();
let initTaken = false;

function takeInitMs(now) {
  if (initTaken) return 0;
  initTaken = true;
  return Number(now - LOADED) / 1e6;
}

function counterTable() {
  return process.env[COUNTER_TABLE_ENV] || '';
}

function counter() {
  if (!counterClient) {
    counterSdk = require('@aws-sdk/client-dynamodb');
    // Short timeouts: an unreachable counter refuses the child (fail safe) within seconds.
    counterClient = new counterSdk.DynamoDBClient({ maxAttempts: 3, requestHandler: { connectionTimeout: 2000, requestTimeout: 3000 } });
  }
  return counterClient;
}

async function counterUpdate(input) {
  return dynamoCall('UpdateItem', { TableName: counterTable(), ...input });
}

// ---- the counter's DynamoDB calls without the SDK's client ----
// Every counted child waits for one UpdateItem. Measured on a 2-core machine against the local
// cloud (600 UpdateItems each, alternated): the SDK v3 client's send() took 0.79 ms median,
// 2.1 ms p95, ~1.2 ms of CPU per call; one hand-signed request over node:http with a keep-alive
// agent and TCP_NODELAY took 0.33 ms, 0.68 ms p95, 0.30 ms of CPU (a counted hop: 3.51 ->
// 2.65 ms median; an environment's first call, the SDK's loading included: 74 -> 15 ms).
// So the guard speaks DynamoDB's JSON protocol itself where the environment is plain (keys in
// the environment, a standard region, no proxy, no FIPS, dual-stack or custom CA) and leaves
// everything else to the SDK, which stays the fallback. The AWS facts used:
// - the protocol (DynamoDB API reference, "Low-level API"): POST / with
//   `Content-Type: application/x-amz-json-1.0` and `X-Amz-Target: DynamoDB_20120810.<Operation>`;
//   the body is the operation's input as JSON, AttributeValues in their typed form
//   ({"S": ...}, {"N": "1"}); an error is a 4xx/5xx whose JSON body names it in `__type`
//   (`com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException`) with a `message`.
// - Signature Version 4 (IAM user guide, "Create a signed AWS API request"): a canonical
//   request (method, path, empty query, the signed headers lower-cased and sorted, the
//   payload's SHA-256), a string to sign over the credential scope
//   <yyyymmdd>/<region>/dynamodb/aws4_request, and a key derived by HMAC-SHA256 from
//   "AWS4"+secret through date, region, service and "aws4_request"; temporary credentials
//   send their token as X-Amz-Security-Token (signed here, as botocore does).
// - endpoints: https://dynamodb.<region>.amazonaws.com (.com.cn in the China regions); the
//   SDKs' service-specific AWS_ENDPOINT_URL_DYNAMODB, then AWS_ENDPOINT_URL, unless
//   AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true.
const DYNAMO_TARGET = 'DynamoDB_20120810.';
const DYNAMO_CONTENT_TYPE = 'application/x-amz-json-1.0';
const DYNAMO_REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d+$/;
const DYNAMO_PROXY_ENVS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];
// The SDK client's settings above: connect 2 s, a request 3 s, 3 attempts in all.
const DYNAMO_CONNECT_MS = 2000;
const DYNAMO_REQUEST_MS = 3000;
const DYNAMO_MAX_ATTEMPTS = 3;
const DYNAMO_BACKOFF_MS = 25;
// Re-sends of a request that met a keep-alive socket the server had closed while it lay idle
// (a server closing an idle connection does not process what arrives on it): not attempts,
// but bounded.
const DYNAMO_MAX_RESENDS = 2;
const DYNAMO_RETRY_CODES = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
]);
const DYNAMO_RETRY_NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);
let dynamoRouteTaken; // undefined: not decided yet; null: the SDK; else dynamoRoute's answer
let dynamoKey = null; // the last signing key: { day, secret, region, key }

/**
 * Where the lean caller sends this environment's DynamoDB calls, or null when the SDK must
 * (anything it would resolve differently: other credentials, endpoint variants, proxies, CAs).
 */
function dynamoRoute(env) {
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return null;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || '';
  if (!DYNAMO_REGION.test(region)) return null;
  const isTrue = (name) => String(env[name] || '').toLowerCase() === 'true';
  if (isTrue('AWS_USE_FIPS_ENDPOINT') || isTrue('AWS_USE_DUALSTACK_ENDPOINT')) return null;
  if (env.AWS_CA_BUNDLE || DYNAMO_PROXY_ENVS.some((name) => env[name])) return null;
  let endpoint = `https://dynamodb.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
  if (!isTrue('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS')) {
    endpoint = env.AWS_ENDPOINT_URL_DYNAMODB || env.AWS_ENDPOINT_URL || endpoint;
  }
  let url;
  try {
    url = new URL(endpoint);
  } catch {
    return null;
  }
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') return null;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) return null;
  return {
    secure,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), // an IPv6 literal, unbracketed
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    host: url.host, // what is signed: the port only when not the scheme's own
    region,
  };
}

function sha256hex(data) {
  return require('node:crypto').createHash('sha256').update(data).digest('hex');
}

function hmac(key, data) {
  return require('node:crypto').createHmac('sha256', key).update(data).digest();
}

/** SigV4's signing key, kept while the day, the secret and the region stay the same. */
function signingKey(day, secret, region) {
  const k = dynamoKey;
  if (k && k.day === day && k.secret === secret && k.region === region) return k.key;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), 'dynamodb'), 'aws4_request');
  dynamoKey = { day, secret, region, key };
  return key;
}

/**
 * The headers of one DynamoDB request, signed with SigV4 (`amzDate`: yyyymmddThhmmssZ).
 * content-length is added by the caller, unsigned (as the SDKs do).
 */
function signDynamo({ accessKeyId, secretAccessKey, sessionToken, region, host, target, body, amzDate }) {
  const headers = {
    'content-type': DYNAMO_CONTENT_TYPE,
    host,
    'x-amz-date': amzDate,
    'x-amz-target': DYNAMO_TARGET + target,
  };
  if (sessionToken) headers['x-amz-security-token'] = sessionToken;
  const names = Object.keys(headers).sort();
  const signed = names.join(';');
  const canonicalHeaders = names.map((n) => `${n}:${String(headers[n]).trim().replace(/\s+/g, ' ')}\n`).join('');
  const request = ['POST', '/', '', canonicalHeaders, signed, sha256hex(body)].join('\n');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/dynamodb/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(request)].join('\n');
  const signature = hmac(signingKey(day, secretAccessKey, region), toSign).toString('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`;
  return headers;
}

/** The route decided once for this environment, its keep-alive agent made on first use. */
function leanRoute() {
  if (dynamoRouteTaken === undefined) dynamoRouteTaken = dynamoRoute(process.env);
  const route = dynamoRouteTaken;
  if (route && !route.transport) {
    route.transport = require(route.secure ? 'node:https' : 'node:http');
    route.agent = new route.transport.Agent({ keepAlive: true, maxSockets: 16 });
  }
  return route;
}

function netError(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

/**
 * One request, its answer { status, headers, body }. A failure is the socket's error with
 * `reused` (the socket had served a request before) and `answered` (a response had begun).
 */
function dynamoSend(route, headers, payload) {
  return new Promise((resolve, reject) => {
    let settled = false;
    let answered = false;
    let timer = null;
    const fail = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      err.reused = Boolean(req.reusedSocket);
      err.answered = answered;
      reject(err);
    };
    const abort = (err) => {
      req.destroy(err);
      fail(err);
    };
    const options = { hostname: route.hostname, port: route.port, method: 'POST', path: '/', headers, agent: route.agent };
    const req = route.transport.request(options, (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', fail);
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    timer = setTimeout(() => abort(netError('ETIMEDOUT', `no answer from DynamoDB within ${DYNAMO_REQUEST_MS} ms`)), DYNAMO_REQUEST_MS);
    req.on('error', fail);
    req.on('socket', (socket) => {
      // Nagle's algorithm would hold a small segment for the peer's delayed ACK (~40 ms).
      socket.setNoDelay(true);
      if (!socket.connecting) return;
      const connect = setTimeout(() => abort(netError('ETIMEDOUT', `no connection to DynamoDB within ${DYNAMO_CONNECT_MS} ms`)), DYNAMO_CONNECT_MS);
      const done = () => clearTimeout(connect);
      socket.once('connect', done);
      socket.once('close', done);
    });
    // Headers and body in one write (an end() with no write before it).
    req.end(payload);
  });
}

/** A 2xx's body, or the Error the SDK would throw for the answer. */
function dynamoAnswer(res, attempts) {
  const $metadata = { httpStatusCode: res.status, requestId: res.headers['x-amzn-requestid'], attempts };
  let body = null;
  try {
    const text = res.body.toString('utf8');
    body = text.trim() ? JSON.parse(text) : {};
  } catch {
    body = null;
  }
  if (res.status >= 200 && res.status < 300 && isObject(body)) return { ...body, $metadata };
  const type = (isObject(body) && body.__type) || res.headers['x-amzn-errortype'] || '';
  // As the SDKs read it: the code after the '#' of `namespace#Code`, before any ':'.
  const name = String(type).split(':')[0].split('#').pop() || `HttpError${res.status}`;
  const message = (isObject(body) && (body.message || body.Message)) || `${name} (HTTP ${res.status})`;
  const err = new Error(String(message));
  err.name = name;
  err.$fault = res.status >= 500 ? 'server' : 'client';
  err.$metadata = $metadata;
  if (isObject(body) && body.Item !== undefined) err.Item = body.Item; // ReturnValuesOnConditionCheckFailure
  return err;
}

function retryableAnswer(err) {
  return DYNAMO_RETRY_CODES.has(err.name) || err.$metadata.httpStatusCode >= 500;
}

/** A TLS failure (certificate, handshake): the SDK, with its own TLS settings, takes over. */
function tlsFailure(err) {
  const code = String((err && err.code) || '');
  return /CERT|^UNABLE_TO_|^ERR_TLS_|^ERR_SSL_|^EPROTO$/.test(code) || /certificate|handshake|SSL routines/i.test(String(err && err.message));
}

/** A keep-alive socket the server closed while it lay idle: nothing was sent anywhere. */
function staleSocket(err) {
  return err.reused && !err.answered && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
}

/** The idle sockets of a route, closed: the next request opens a new connection. */
function dropIdle(route) {
  for (const sockets of Object.values(route.agent.freeSockets)) {
    for (const socket of sockets || []) socket.destroy();
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sdkDynamo(target, input) {
  const client = counter();
  return client.send(new counterSdk[`${target}Command`](input));
}

/**
 * One DynamoDB call (`target`: 'UpdateItem', 'GetItem'...), its answer as the SDK's low-level
 * client gives it (AttributeValues as they are, `$metadata`), or its Error (the exception's
 * name, `message`, `Item`, `$metadata.httpStatusCode`). The SDK makes it where the lean
 * caller must not (dynamoRoute). `input` is sent as JSON.stringify writes it: the guard's
 * inputs hold no binary (B) values, which the SDK would base64-encode.
 */
async function dynamoCall(target, input) {
  const route = leanRoute();
  const env = process.env; // read at each call: an environment's credentials can change
  if (!route || !env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return sdkDynamo(target, input);
  const payload = JSON.stringify(input);
  let resends = 0;
  for (let attempt = 1; ; attempt += 1) {
    const headers = signDynamo({
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN,
      region: route.region,
      host: route.host,
      target,
      body: payload,
      amzDate: new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''),
    });
    headers['content-length'] = String(Buffer.byteLength(payload));
    let out;
    let retry;
    try {
      out = dynamoAnswer(await dynamoSend(route, headers, payload), attempt);
      retry = out instanceof Error && retryableAnswer(out);
    } catch (err) {
      if (tlsFailure(err)) {
        dynamoRouteTaken = null; // for good: this environment's calls go through the SDK
        writeLine(`recursectl: DynamoDB over TLS failed (${err.code || err.message}): the SDK's client takes over\n`);
        return sdkDynamo(target, input);
      }
      if (staleSocket(err) && resends < DYNAMO_MAX_RESENDS) {
        resends += 1;
        attempt -= 1; // at once, on a new socket, not an attempt
        dropIdle(route);
        continue;
      }
      if (!DYNAMO_RETRY_NETWORK.has(err.code)) throw err;
      err.$metadata = { attempts: attempt };
      out = err;
      retry = true;
    }
    if (!(out instanceof Error)) return out;
    if (!retry || attempt >= DYNAMO_MAX_ATTEMPTS) throw out;
    await sleep(Math.random() * DYNAMO_BACKOFF_MS * 2 ** attempt);
  }
}

/** What an invocation of `ms` milliseconds costs at list price (billed per started ms). */
function usd(ms) {
  const memoryGb = envInt('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 128) / 1024;
  const arch = process.arch === 'arm64' ? 'arm64' : 'x86_64';
  return (Math.ceil(ms) / 1000) * memoryGb * GB_SECOND_USD[arch] + REQUEST_USD;
}

function ttl() {
  return { N: String(Math.floor(Date.now() / 1000) + COUNTER_TTL_S) };
}

function toInt(value, fallback) {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return parseInt(value, 10);
  return fallback;
}

function envInt(name, fallback) {
  return toInt(process.env[name], fallback);
}

// protocol.child_share, to the letter.
function childShare(pool, left, split, maxCalls, childDepth) {
  if (left <= 0 || childDepth > maxCalls) return 0;
  if (split !== null && split >= 1) return Math.min(left, Math.max(1, Math.floor(pool / split)));
  const linear = maxCalls - childDepth + 1;
  return Math.min(left, Math.max(Math.ceil(pool / 2), linear));
}

function writeLine(text) {
  // One write(2) per line on fd 1: one line, one log event, in order with the runtime's own
  // output. Not process.stdout: its first use builds a stream (~15 ms of CPU at cold start)
  // that a runtime logging to its telemetry fd never needs.
  const line = Buffer.from(text);
  let done = 0;
  try {
    while (done < line.length) done += fs.writeSync(1, line, done);
  } catch (err) {
    if (err.code !== 'EAGAIN') throw err;
    process.stdout.write(line.subarray(done)); // a non-blocking pipe that is full: queue it
  }
}

function emit(record) {
  writeLine(`${MARKER} ${JSON.stringify(record)}\n`);
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// ---- the chain context of one invocation ----
class Chain {
  constructor(event, context) {
    const req = String((context && context.awsRequestId) || 'unknown');
    const ctx = isObject(event) && isObject(event[CONTEXT_KEY]) ? event[CONTEXT_KEY] : {};
    const continued = Boolean(ctx.chain);
    this.maxCalls = envInt(MAX_CALLS_ENV, DEFAULT_MAX_CALLS);
    this.req = req;
    this.chain = continued ? String(ctx.chain) : req;
    this.parent = continued && ctx.parent ? String(ctx.parent) : null;
    this.depth = continued ? Math.max(0, toInt(ctx.depth, 0)) : 0;
    this.gen = toInt(ctx.gen, continued ? 0 : currentGeneration());
    // A crafted context cannot raise the limits: depth >= 0, budget <= the function's own.
    const maxInvocations = envInt(MAX_INVOCATIONS_ENV, DEFAULT_MAX_INVOCATIONS);
    this.maxInvocations = maxInvocations;
    this.budget = Math.max(1, Math.min(toInt(ctx.budget, maxInvocations), maxInvocations));
    this.split = toInt(ctx.split, 0) || null;
    this.left = this.budget - 1; // what the pool for this subtree still holds
    this.children = [];
    const cost = ctx.max_cost;
    this.maxCost = typeof cost === 'number' && cost >= 0 ? cost : null; // USD, the whole chain
    this.started = process.hrtime.bigint();
    this.initMs = takeInitMs(this.started);
    this.counted = Boolean(counterTable()); // exact budget: the chain's counter item
    // The counter item's key: the chain's id, or on a job's hops the job's record
    // (`job#<id>`: see the Python helper).
    this.countKey = this.chain;
    this.countTtl = true; // a chain's item expires; a job's record is kept
    this.jobCtx = isObject(ctx[JOB_KEY]) ? ctx[JOB_KEY] : null; // the context's `job`
  }

  /** This invocation's milliseconds so far, its environment's init included. */
  elapsedMs() {
    return Number(process.hrtime.bigint() - this.started) / 1e6 + this.initMs;
  }

  capped(reason, extra) {
    emit({ v: VERSION, ev: EV_CAPPED, chain: this.chain, req: this.req, depth: this.depth, max: this.maxCalls, reason, ...extra });
  }

  /** The counter's condition, names and values (see the Python helper's _budget). */
  budgetCheck() {
    const names = { '#n': 'n' };
    const values = { ':one': { N: '1' }, ':max': { N: String(this.maxInvocations - 1) } };
    let condition = '(attribute_not_exists(#n) OR #n < :max)';
    if (this.maxCost !== null) {
      names['#s'] = 'spend';
      values[':room'] = { N: (this.maxCost - usd(this.elapsedMs())).toFixed(12) };
      condition += ' AND (attribute_not_exists(#s) OR #s < :room)';
    }
    return { condition, names, values };
  }

  /** The refusal a failed budget condition stands for (`old`: the item), its marker out. */
  refused(old) {
    const used = old.n ? Number(old.n.N) : 0;
    if (used < this.maxInvocations - 1 && this.maxCost !== null) {
      const spent = old.spend ? Number(old.spend.N) : 0;
      this.capped('cost', {});
      return new CostCapReached(
        `recursectl: not invoking a child: this chain has spent $${spent.toFixed(6)} of its cost ` +
          `cap $${this.maxCost} (invoke --max-cost raises it)`,
      );
    }
    this.capped('budget', { budget: 0 });
    return new BudgetExhausted(
      `recursectl: not invoking a child at depth ${this.depth + 1}: this chain's budget of ` +
        `${this.maxInvocations} invocations is spent (${MAX_INVOCATIONS_ENV}; deploy with ` +
        `--max-invocations to raise it)`,
    );
  }

  /** ' SET #e = :ttl' for a chain's item (it expires), '' for a job's record. */
  ttl(names, values) {
    if (!this.countTtl) return '';
    names['#e'] = 'expires';
    values[':ttl'] = ttl();
    return ' SET #e = :ttl';
  }

  share(attributes) {
    return Math.max(1, this.maxInvocations - Number(attributes.n.N));
  }

  /** Count the next child on the chain's counter item (see the Python helper's _count). */
  async count() {
    const { condition, names, values } = this.budgetCheck();
    let out;
    try {
      out = await counterUpdate({
        Key: { chain: { S: this.countKey } },
        UpdateExpression: `ADD #n :one${this.ttl(names, values)}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'UPDATED_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      });
    } catch (err) {
      if (!err || err.name !== 'ConditionalCheckFailedException') {
        const why = `${(err && err.name) || 'Error'}: ${(err && err.message) || err}`.slice(0, 300);
        this.capped('counter', {});
        return new CounterUnreachable(
          `recursectl: not invoking a child: the chain counter (${COUNTER_TABLE_ENV}=${counterTable()}) ` +
            `could not be reached, so the budget cannot be checked: ${why}`,
        );
      }
      return this.refused(err.Item || {});
    }
    return this.share(out.Attributes);
  }

  /** Give a refused child's count back (best effort: a miss makes the budget stricter). */
  async uncount() {
    try {
      await counterUpdate({
        Key: { chain: { S: this.countKey } },
        UpdateExpression: 'ADD #n :minus',
        ExpressionAttributeNames: { '#n': 'n' },
        ExpressionAttributeValues: { ':minus': { N: '-1' } },
      });
    } catch (err) {
      writeLine(`recursectl: a refused child's count was not given back: ${err}\n`);
    }
  }

  /** Add this invocation's cost to the chain's spend (only under a cost cap). */
  async spend() {
    if (!this.counted || this.maxCost === null) return;
    const names = { '#s': 'spend' };
    const values = { ':c': { N: usd(this.elapsedMs()).toFixed(12) } };
    try {
      await counterUpdate({
        Key: { chain: { S: this.countKey } },
        UpdateExpression: `ADD #s :c${this.ttl(names, values)}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      });
    } catch (err) {
      writeLine(`recursectl: this invocation's cost was not added to the chain's spend: ${err}\n`);
    }
  }

  /** How many more levels the cap allows below this invocation. */
  get remaining() {
    return Math.max(0, this.maxCalls - this.depth);
  }

  hop() {
    const record = {
      v: VERSION,
      ev: EV_HOP,
      chain: this.chain,
      req: this.req,
      parent: this.parent,
      depth: this.depth,
      max: this.maxCalls,
      budget: this.budget,
    };
    if (this.jobCtx && this.jobCtx.id) Object.assign(record, jobIds(this.jobCtx));
    emit(record);
  }

  mark(ev, fields) {
    emit({ v: VERSION, ev, chain: this.chain, req: this.req, ...fields });
  }

  stale() {
    return this.gen < currentGeneration();
  }

  stopped() {
    emit({ v: VERSION, ev: EV_STOPPED, chain: this.chain, req: this.req, depth: this.depth, gen: this.gen });
  }

  /** The hop of a stale chain: its marker, a line for humans; the handler does not run. */
  skip() {
    this.stopped();
    this.notRun();
  }

  notRun() {
    writeLine(
      `recursectl: not running the handler: this chain started before the last \`recursectl stop\` ` +
        `(its generation ${this.gen} < ${GENERATION_ENV}=${currentGeneration()}): start a new chain\n`,
    );
  }

  /** The budget of the next child, or a ChainRefused (and its marker) when none may start. */
  async admit() {
    if (this.stale()) {
      this.stopped();
      return new ChainStopped(
        `recursectl: not invoking a child: this chain started before the last \`recursectl stop\` ` +
          `(its generation ${this.gen} < ${GENERATION_ENV}=${currentGeneration()}): start a new chain`,
      );
    }
    const depth = this.depth + 1;
    if (this.counted && depth <= this.maxCalls) return this.count();
    const share = childShare(this.budget - 1, this.left, this.split, this.maxCalls, depth);
    this.left -= share;
    if (share > 0) return share;
    const reason = depth > this.maxCalls ? 'depth' : 'budget';
    emit({
      v: VERSION,
      ev: EV_CAPPED,
      chain: this.chain,
      req: this.req,
      depth: this.depth,
      max: this.maxCalls,
      reason,
      budget: this.left,
    });
    if (reason === 'depth') {
      return new DepthCapReached(
        `recursectl: not invoking a child at depth ${depth}: the depth cap is ${this.maxCalls} ` +
          `(${MAX_CALLS_ENV}; deploy with --max-calls to raise it)`,
      );
    }
    return new BudgetExhausted(
      `recursectl: not invoking a child at depth ${depth}: this chain's budget of ` +
        `${this.maxInvocations} invocations is spent (${MAX_INVOCATIONS_ENV}; deploy with ` +
        `--max-invocations to raise it)`,
    );
  }

  childContext(share) {
    const ctx = { chain: this.chain, parent: this.req, depth: this.depth + 1, gen: this.gen, budget: share };
    if (this.split !== null) ctx.split = this.split;
    if (this.maxCost !== null) ctx.max_cost = this.maxCost;
    return ctx;
  }

  child(child, share) {
    this.children.push(child);
    emit({ v: VERSION, ev: EV_CHILD, chain: this.chain, req: this.req, child, depth: this.depth + 1, budget: share });
  }

  childFailed(err, share) {
    const status = err && err.$metadata && err.$metadata.httpStatusCode;
    // Refused by Lambda (throttled, denied, not found, too large): no child started.
    if (typeof status === 'number' && status >= 400 && status < 500) {
      if (this.counted) this.uncount(); // not awaited: the handler hears of its failure now
      else this.left += share;
    }
    const error = `${(err && err.name) || 'Error'}: ${(err && err.message) || err}`.slice(0, 500);
    emit({ v: VERSION, ev: EV_CHILD_FAILED, chain: this.chain, req: this.req, depth: this.depth + 1, error });
  }
}

function currentGeneration() {
  return envInt(GENERATION_ENV, 0);
}

// The chain of the invocation whose code is running: an AsyncLocalStorage follows every
// promise and callback the handler starts; `latest` covers work that escaped it.
const store = new AsyncLocalStorage();
let latest = null;

function current() {
  return store.getStore() || latest;
}

// ---- which function an Invoke addresses ----
const ARN = /^arn:[^:]+:lambda:([^:]+):(\d{12}):function:([^:]+)(?::[^:]+)?$/;
const PARTIAL = /^(\d{12}):function:([^:]+)(?::[^:]+)?$/;
const NAME = /^([^:]+)(?::[^:]+)?$/;

function parseFunctionName(value) {
  const text = String(value || '');
  let m = ARN.exec(text);
  if (m) return { region: m[1], account: m[2], name: m[3] };
  m = PARTIAL.exec(text);
  if (m) return { region: null, account: m[1], name: m[2] };
  m = NAME.exec(text);
  return m ? { region: null, account: null, name: m[1] } : null;
}

function selfIdentity() {
  const arn = parseFunctionName(process.env[SELF_ARN_ENV]);
  return {
    name: process.env.AWS_LAMBDA_FUNCTION_NAME || (arn && arn.name) || '',
    region: (arn && arn.region) || process.env.AWS_REGION || null,
    account: (arn && arn.account) || null,
  };
}

async function isSelf(client, functionName) {
  const target = parseFunctionName(functionName);
  const me = selfIdentity();
  if (!target || !me.name || target.name !== me.name) return false;
  if (target.account && me.account && target.account !== me.account) return false;
  let region = target.region;
  if (!region) {
    // A bare name or partial ARN means "in the client's region": another region's
    // function of the same name is another function.
    try {
      const provider = client.config && client.config.region;
      region = typeof provider === 'function' ? await provider() : provider;
    } catch {
      region = null;
    }
  }
  return !region || !me.region || region === me.region;
}

/** The event an Invoke carries, as an object, or a PayloadNotObject refusal. */
function eventOf(payload) {
  let text;
  if (payload === undefined || payload === null) return {}; // no payload: Lambda hands {}
  if (typeof payload === 'string') text = payload;
  else if (payload instanceof Uint8Array) text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  if (text !== undefined && !text.trim()) return {};
  let event;
  try {
    event = text === undefined ? undefined : JSON.parse(text);
  } catch {
    event = undefined;
  }
  if (isObject(event)) return event;
  return new PayloadNotObject(
    'recursectl: not invoking this function with a payload that is not a JSON object: ' +
      `the chain context (${CONTEXT_KEY}) cannot be carried; send a JSON object`,
  );
}

// Invokes that may have reached Lambda are never re-sent by the SDK's retry strategy (it
// retries timeouts, dropped connections and 5xx, any of which may follow an accepted Event
// invoke: a second child with the same context, a forked chain). Throttles and connections
// that never opened are safe, and left to the SDK.
const THROTTLED = new Set(['TooManyRequestsException', 'ThrottlingException']);
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);
const selfInvoke = new AsyncLocalStorage();

class Veto extends Error {
  constructor(error) {
    super(String((error && error.message) || error));
    this.name = 'RecursectlRetryVeto';
    this.error = error;
  }
}

function ambiguous(err) {
  if (!err || THROTTLED.has(err.name) || THROTTLED.has(err.Code)) return false;
  if (NEVER_CONNECTED.has(err.code)) return false;
  const status = err.$metadata && err.$metadata.httpStatusCode;
  return typeof status !== 'number' || status >= 500;
}

const vetoMiddleware = (next) => async (args) => {
  if (!selfInvoke.getStore()) return next(args);
  try {
    return await next(args);
  } catch (err) {
    throw ambiguous(err) ? new Veto(err) : err;
  }
};

function hookRetries(client) {
  const stack = client.middlewareStack;
  if (!stack || Object.prototype.hasOwnProperty.call(client, HOOKED)) return;
  Object.defineProperty(client, HOOKED, { value: true });
  try {
    stack.addRelativeTo(vetoMiddleware, {
      relation: 'after',
      toMiddleware: 'retryMiddleware',
      name: 'recursectlRetryVeto',
      override: true,
    });
  } catch {
    // a client without the SDK's retry middleware retries nothing
  }
}

const PAYLOAD_KEY = { InvokeCommand: 'Payload', InvokeWithResponseStreamCommand: 'Payload', InvokeAsyncCommand: 'InvokeArgs' };

async function guardedInvoke(client, send, command, key, options) {
  const input = command.input || {};
  const chain = current();
  if (!chain || input.InvocationType === 'DryRun' || !(await isSelf(client, input.FunctionName))) {
    return send.call(client, command, options);
  }
  const event = eventOf(input[key]);
  if (event instanceof Error) throw event;
  const share = await chain.admit();
  if (share instanceof Error) throw share;
  event[CONTEXT_KEY] = chain.childContext(share);
  // A copy that differs only in its input: the caller's command object stays as it was.
  const copy = Object.create(command);
  copy.input = { ...input, [key]: JSON.stringify(event) };
  hookRetries(client);
  let output;
  try {
    output = await selfInvoke.run(true, () => send.call(client, copy, options));
  } catch (err) {
    const error = err instanceof Veto ? err.error : err;
    chain.childFailed(error, share);
    throw error;
  }
  const child = output && output.$metadata && output.$metadata.requestId;
  chain.child(child ? String(child) : null, share);
  return output;
}

/** Route the Invoke commands of one loaded copy of @aws-sdk/client-lambda through the guard. */
function patchSdk(sdk) {
  const proto = sdk && sdk.LambdaClient && sdk.LambdaClient.prototype;
  if (!proto || Object.prototype.hasOwnProperty.call(proto, PATCHED) || typeof proto.send !== 'function') return;
  const send = proto.send; // smithy's Client.prototype.send, inherited
  const keys = new Map();
  for (const [name, key] of Object.entries(PAYLOAD_KEY)) if (sdk[name]) keys.set(sdk[name], key);
  Object.defineProperty(proto, 'send', {
    configurable: true,
    writable: true,
    value: function (command, optionsOrCb, cb) {
      const key = command && keys.get(command.constructor);
      if (!key) return send.apply(this, arguments);
      const callback = typeof optionsOrCb === 'function' ? optionsOrCb : cb;
      const options = typeof optionsOrCb === 'function' ? undefined : optionsOrCb;
      const result = guardedInvoke(this, send, command, key, options);
      if (typeof callback !== 'function') return result;
      result.then(
        (output) => callback(null, output),
        (err) => callback(err),
      );
      return undefined;
    },
  });
  Object.defineProperty(proto, PATCHED, { value: true });
}

// Patch every copy of the SDK the user's code loads, whenever it loads it (a handler that
// never loads the SDK pays nothing at cold start).
const sdkFiles = new Set();
function watchSdk(fromFile) {
  try {
    sdkFiles.add(Module.createRequire(fromFile).resolve(SDK_MODULE));
  } catch {
    // no SDK reachable from the handler: nothing can invoke through it
  }
  const load = Module._load;
  Module._load = function (request) {
    const loaded = load.apply(this, arguments);
    if (request === SDK_MODULE) patchSdk(loaded);
    return loaded;
  };
}

function patchLoadedSdks() {
  for (const file of sdkFiles) {
    const cached = require.cache[file];
    if (cached && cached.loaded) patchSdk(cached.exports);
  }
}

// ---- long jobs (docs/jobs.md): the API is recursectl_chain.job.cjs, required on first use ----
const JobStop = refusal('JobStop', Error); // the hop ends on purpose: not a failure
const JobFenced = refusal('JobFenced', JobStop); // this attempt lost its claim to a newer one
let jobModule = null;

/** The job module, loaded the first time a job's hop runs (a plain function never parses it). */
function jobs() {
  if (!jobModule) jobModule = require(`${__dirname}/recursectl_chain.job.cjs`);
  return jobModule;
}

/** This hop of the job (a root event starts one): see docs/jobs.md. */
async function job(event, context) {
  return jobs().job(event, context);
}

/** Whether `event` is an on-failure destination record of this very function. */
function ownFailureRecord(event) {
  if (!isObject(event) || !isObject(event.requestPayload) || !isObject(event.requestContext)) return false;
  if (event.requestContext.condition === 'Success') return false;
  const target = parseFunctionName(event.requestContext.functionArn);
  return Boolean(target && target.name === selfIdentity().name);
}

function jobIds(jobCtx) {
  return {
    job: String(jobCtx.id),
    seq: Math.max(0, toInt(jobCtx.seq, 0)),
    attempt: Math.max(1, toInt(jobCtx.attempt, 1)),
  };
}

function jobFunction() {
  return Boolean(counterTable() && (process.env[JOB_BUCKET_ENV] || process.env[JOB_BOUNDS_ENV]));
}

/**
 * What runs before the user's handler: a failure record turned into its retry, the chain
 * begun, a stopped job paused, a job's hop claimed with its state. null: do not run it.
 */
async function prelude(event, context) {
  if (ownFailureRecord(event)) {
    event = await jobs().retryEvent(event, context);
    if (event === null) return null;
  }
  const chain = begin(event, context);
  const isJobHop = Boolean(chain.jobCtx && chain.jobCtx.id);
  if (isJobHop && chain.stale() && !(await jobs().pauseJob(chain))) {
    chain.gen = currentGeneration(); // resumed since the stop: this hop goes on
  }
  if (chain.stale()) {
    chain.skip();
    return null;
  }
  if (isJobHop && !(await jobs().prepareHop(chain, event, context))) return null;
  return { chain, event };
}

/**
 * In a handler shape that cannot be a job's (streaming; a callback handler the runtime calls
 * itself), a job function's own failure record is dropped, never run: run, it could fail
 * again and come back nested in its own record, for ever.
 */
function droppedRecord(event) {
  if (!ownFailureRecord(event) || !jobFunction()) return false;
  writeLine(
    "recursectl: an on-failure record dropped: this handler is not an async function, so it cannot " +
      'be a job handler (make it `async` to have its failed hops retried)\n',
  );
  return true;
}

/** After the handler: a job hop that neither continued nor finished fails the job. */
async function afterHandler(chain) {
  if (jobModule) await jobModule.afterHandler(chain);
}

// ---- loading the user's handler as the runtime would (aws-lambda-ric UserFunction.js) ----
// Loaded by `require` (ric 3.x, the loader of the managed nodejs20.x and 22.x runtimes) or by
// `import()` (ric 4.x): we load the user's module the same way, so that its errors are the
// runtime's own, with the same types and messages.
let importedByRuntime = false;
// The runtime's own `require` (its file heads the "Require stack" of a module-not-found error):
// the module that required the entry point (3.x), else the runtime's entry script (4.x).
let runtimeRequire = null;

function splitHandler(handlerString) {
  if (handlerString.includes('..')) {
    throw new MalformedHandlerName(
      `'${handlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(handlerString);
  const moduleRoot = handlerString.substring(0, handlerString.indexOf(base));
  const match = /^([^.]*)\.(.*)$/.exec(base);
  if (!match) throw new MalformedHandlerName('Bad handler');
  return { moduleRoot, moduleName: match[1], handlerName: match[2] };
}

function typeModule(folder) {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    if (dir.endsWith('/node_modules')) return false;
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module';
      } catch {
        return false;
      }
    }
    if (dir === path.dirname(dir)) return false;
  }
}

async function importModule(file) {
  return fs.existsSync(file) ? import(file) : undefined;
}

function requireModule(file) {
  return fs.existsSync(file) ? runtimeRequire(file) : undefined;
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  const mainPaths = [appRoot, path.join(appRoot, moduleRoot)];
  if (importedByRuntime) {
    for (const ext of ['', '.js', '.mjs', '.cjs']) {
      const loaded = await importModule(base + ext);
      if (loaded) return { loaded, file: base + ext };
    }
  } else {
    let loaded = requireModule(base);
    if (loaded) return { loaded, file: base };
    const esm = fs.existsSync(`${base}.js`) && typeModule(path.dirname(`${base}.js`));
    if (!esm && (loaded = requireModule(`${base}.js`))) return { loaded, file: `${base}.js` };
    if (esm && (loaded = await importModule(`${base}.js`))) return { loaded, file: `${base}.js` };
    if ((loaded = await importModule(`${base}.mjs`))) return { loaded, file: `${base}.mjs` };
    if ((loaded = requireModule(`${base}.cjs`))) return { loaded, file: `${base}.cjs` };
  }
  const file = runtimeRequire.resolve(moduleName, { paths: mainPaths });
  return { loaded: runtimeRequire(file), file };
}

function findHandler(loaded, handlerName, handlerString) {
  const find = (obj) =>
    handlerName.split('.').reduce((nested, key) => (nested && typeof nested === 'object') || typeof nested === 'function' ? nested[key] : undefined, obj);
  let fn = find(loaded);
  if (!fn && importedByRuntime && loaded && typeof loaded === 'object' && 'default' in loaded) {
    fn = find(loaded.default);
  }
  if (!fn) throw new HandlerNotFound(`${handlerString} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${handlerString} is not a function`);
  return fn;
}

// ---- the wrapper the runtime calls ----
function strip(event) {
  if (!isObject(event) || !(CONTEXT_KEY in event)) return event;
  const { [CONTEXT_KEY]: _ignored, ...rest } = event;
  return rest;
}

function begin(event, context) {
  patchLoadedSdks(); // an SDK the handler imported (ESM) or required lazily since the last hop
  const chain = new Chain(event, context);
  latest = chain;
  chain.hop();
  return chain;
}

function isAsyncFunction(fn) {
  return fn.constructor && fn.constructor.name === 'AsyncFunction';
}

function declaredNodeMajor() {
  const m = /nodejs(\d+)/.exec(process.env.AWS_EXECUTION_ENV || '');
  return m ? parseInt(m[1], 10) : null;
}

/**
 * A wrapper of the same shape as the user's function (async or not, its length, its
 * streaming symbols), so the runtime treats it exactly as it would treat the user's own.
 */
function wrap(user) {
  const streaming = Boolean(user[STREAMING]);
  let wrapper;
  if (streaming) {
    wrapper = function (event, responseStream, context) {
      if (droppedRecord(event)) {
        responseStream.end();
        return Promise.resolve(undefined);
      }
      const chain = begin(event, context);
      if (chain.stale()) {
        chain.skip();
        responseStream.end();
        return Promise.resolve(undefined);
      }
      return store.run(chain, () => user.call(this, strip(event), responseStream, context));
    };
  } else if (isAsyncFunction(user)) {
    wrapper = async function (event, context, callback) {
      const hop = await prelude(event, context);
      if (hop === null) return null;
      const { chain } = hop;
      let result;
      try {
        result = await store.run(chain, () => user.call(this, strip(hop.event), context, callback));
      } catch (err) {
        if (!(err instanceof JobStop)) throw err;
        writeLine(`recursectl: ${err.message}\n`); // the hop ends here, on purpose
        return null;
      } finally {
        await chain.spend();
      }
      await afterHandler(chain);
      return result;
    };
  } else if (importedByRuntime && (declaredNodeMajor() || 0) <= 22) {
    // ric 4.x runs callback handlers no more (Node.js 24 semantics); the managed nodejs20.x
    // and 22.x runtimes still do: keep their contract where the declared runtime has it.
    return callbackAdapter(user);
  } else {
    wrapper = function (event, context, callback) {
      if (droppedRecord(event)) {
        if (typeof callback === 'function') callback(null, null);
        return null;
      }
      const chain = begin(event, context);
      if (chain.stale()) {
        chain.skip();
        if (typeof callback === 'function') callback(null, null);
        return null;
      }
      return store.run(chain, () => user.call(this, strip(event), context, callback));
    };
  }
  Object.defineProperty(wrapper, 'length', { value: user.length });
  Object.defineProperty(wrapper, 'name', { value: 'handler' });
  if (streaming) {
    wrapper[STREAMING] = user[STREAMING];
    if (user[HIGH_WATER_MARK] !== undefined) wrapper[HIGH_WATER_MARK] = user[HIGH_WATER_MARK];
  }
  return wrapper;
}

/**
 * The nodejs20.x/22.x contract for a non-async handler, for a runtime client (4.x) that
 * awaits its handler: a returned promise is the result; otherwise the callback is, sent once
 * the event loop is empty unless `context.callbackWaitsForEmptyEventLoop` is false; a handler
 * that never calls it answers null when the loop empties.
 */
function callbackAdapter(user) {
  return async function handler(event, context) {
    const hop = await prelude(event, context);
    if (hop === null) return null;
    const { chain } = hop;
    event = hop.event;
    if (context && context.callbackWaitsForEmptyEventLoop === undefined) {
      context.callbackWaitsForEmptyEventLoop = true;
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err, result) => {
        if (settled) return;
        settled = true;
        if (err !== undefined && err !== null) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve(result);
      };
      const whenEmpty = (fn) => process.once('beforeExit', fn);
      let called = false;
      const callback = (err, result) => {
        if (called) return;
        called = true;
        if (context && context.callbackWaitsForEmptyEventLoop === false) settle(err, result);
        else whenEmpty(() => settle(err, result));
      };
      let returned;
      try {
        returned = store.run(chain, () => user.call(this, strip(event), context, callback));
      } catch (err) {
        callback(err);
        return;
      }
      if (returned && typeof returned.then === 'function') returned.then((r) => settle(null, r), (e) => settle(e));
      else whenEmpty(() => called || settle(null, null)); // never called back: null
    }).then(
      async (result) => {
        await chain.spend();
        await afterHandler(chain);
        return result;
      },
      async (err) => {
        await chain.spend();
        if (!(err instanceof JobStop)) throw err;
        writeLine(`recursectl: ${err.message}\n`);
        return null;
      },
    );
  };
}

async function load() {
  const handlerString = process.env[HANDLER_ENV];
  if (!handlerString) {
    throw new HandlerNotFound(`${HANDLER_ENV} is not set: recursectl deploy names your handler there`);
  }
  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const { moduleRoot, moduleName, handlerName } = splitHandler(handlerString);
  watchSdk(path.join(path.resolve(appRoot, moduleRoot), `${moduleName}.js`));
  const { loaded } = await loadModule(appRoot, moduleRoot, moduleName);
  patchLoadedSdks();
  return wrap(findHandler(loaded, handlerName, handlerString));
}

let ready = null;
let loadedHandler = null;

/**
 * The entry point. The runtime awaits the entry module (a thenable: both ric generations await
 * what they load) and so receives the wrapper of the user's own shape; a loader that takes
 * `handler` directly gets this one, which waits for the load.
 */
function handler(event, context, callback) {
  if (loadedHandler) return loadedHandler.call(this, event, context, callback);
  return ready.then((fn) => fn.call(this, event, context, callback));
}

function then(resolve, reject) {
  ready.then((fn) => resolve({ ...api, handler: fn, then: undefined }), reject);
}

const api = {
  handler,
  then,
  current,
  childShare,
  ChainRefused,
  DepthCapReached,
  BudgetExhausted,
  ChainStopped,
  PayloadNotObject,
  CostCapReached,
  CounterUnreachable,
  job,
  JobStop,
  JobFenced,
};

/** Start the guard for its entry module (recursectl_chain.cjs): the user's handler loads now. */
function start(entry) {
  if (ready) return api;
  importedByRuntime = entry.parent === undefined;
  runtimeRequire = Module.createRequire(
    (entry.parent && entry.parent.filename) || process.argv[1] || path.join(process.cwd(), 'index.js'),
  );
  ready = load();
  ready.then(
    (fn) => {
      loadedHandler = fn;
    },
    () => {}, // reported through `then` to the runtime (its init error), never unhandled
  );
  return api;
}

exports.start = start;
exports.job = job; // the entry point exports it before the user's module loads
// What the job module (recursectl_chain.job.cjs) takes from the guard: one copy of each.
exports.internals = {
  CONTEXT_KEY,
  COUNTER_TABLE_ENV,
  ChainRefused,
  ChainStopped,
  DEFAULT_JOB_MAX_HOPS,
  DEFAULT_JOB_MAX_SECONDS,
  EV_CHECKPOINT,
  EV_CHILD,
  EV_DUPLICATE,
  EV_JOB,
  JOB_BOUNDS_ENV,
  JOB_BUCKET_ENV,
  JOB_INLINE_CHECKPOINT,
  JOB_INLINE_PAYLOAD,
  JOB_KEY,
  JOB_MARGIN_ENV,
  JOB_MAX_ATTEMPTS,
  JOB_RECORD_PREFIX,
  JOB_STATE_PREFIX,
  JOB_STATE_TTL_DAYS,
  JobFenced,
  JobStop,
  SDK_MODULE,
  SELF_ARN_ENV,
  VERSION,
  Veto,
  begin,
  counterTable,
  current,
  currentGeneration,
  emit,
  envInt,
  hookRetries,
  isObject,
  jobFunction,
  jobIds,
  ownFailureRecord,
  parseFunctionName,
  refusal,
  selfIdentity,
  selfInvoke,
  strip,
  toInt,
  writeLine,
  dynamoCall,
  dynamoRoute,
  signDynamo,
};
