'use strict';
// recursectl's long jobs (docs/jobs.md): the job API of the chain guard, in camelCase (the
// Python helper's recursectl_job.py). Packaged by `recursectl deploy` next to the guard
// (recursectl_chain.guard.cjs), which requires it only when a hop of a job runs or a handler
// calls `job()`: a plain guarded function never parses it at cold start.
const g = require(`${__dirname}/recursectl_chain.guard.cjs`).internals;

const {
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
  jobIds,
  jobFunction,
  ownFailureRecord,
  parseFunctionName,
  refusal,
  selfIdentity,
  selfInvoke,
  strip,
  toInt,
  writeLine,
} = g;

const StateLost = refusal('StateLost', Error); // the state cannot be had: the job fails
let currentJob = null; // the job hop in progress
let s3Client = null;
let s3Sdk = null;

function s3() {
  if (!s3Client) {
    s3Sdk = require('@aws-sdk/client-s3');
    s3Client = new s3Sdk.S3Client({ requestHandler: { connectionTimeout: 2000, requestTimeout: 10000 } });
  }
  return s3Client;
}

/** One call to the job's table ('UpdateItemCommand'...): the guard's lean DynamoDB caller. */
async function ddb(command, input) {
  return g.dynamoCall(command.replace(/Command$/, ''), { TableName: counterTable(), ...input });
}

function functionName() {
  const arn = parseFunctionName(process.env[SELF_ARN_ENV]);
  return process.env.AWS_LAMBDA_FUNCTION_NAME || (arn && arn.name) || '';
}

/** The state's canonical JSON: keys sorted, compact (a TypeError when it has none). */
function canonical(state) {
  const text = JSON.stringify(state === undefined ? null : state, (key, value) =>
    isObject(value) ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, value[k]])) : value,
  );
  if (typeof text !== 'string') throw new TypeError('the state has no JSON form');
  return text;
}

const S = (text) => ({ S: String(text) });
const N = (value) => ({ N: String(value) });
const nowMs = () => Date.now(); // display only: never compared across hops

function attrJson(item, name) {
  const raw = item && item[name] && item[name].S;
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

function attrInt(item, name, fallback = 0) {
  return toInt(item && item[name] && item[name].N, fallback);
}

function costOf(value) {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

/** The function's bounds (RECURSECTL_JOB_BOUNDS), lowered (never raised) by `declared`. */
function jobBounds(declared) {
  let env = {};
  try {
    env = JSON.parse(process.env[JOB_BOUNDS_ENV] || '{}');
  } catch {
    env = {};
  }
  if (!isObject(env)) env = {};
  const bounds = {
    max_hops: Math.max(1, toInt(env.max_hops, DEFAULT_JOB_MAX_HOPS)),
    max_seconds: Math.max(1, toInt(env.max_seconds, DEFAULT_JOB_MAX_SECONDS)),
    max_cost: costOf(env.max_cost),
  };
  if (isObject(declared)) {
    for (const name of ['max_hops', 'max_seconds']) {
      const value = toInt(declared[name], 0);
      if (value >= 1) bounds[name] = Math.min(bounds[name], value);
    }
    const cost = costOf(declared.max_cost);
    if (cost !== null) bounds.max_cost = bounds.max_cost === null ? cost : Math.min(bounds.max_cost, cost);
  }
  return bounds;
}

function errorText(err) {
  return `${(err && err.name) || 'Error'}: ${(err && err.message) || err}`.slice(0, 300);
}

function tableError(action, err) {
  return new Error(
    `recursectl: the job's table (${COUNTER_TABLE_ENV}=${counterTable()}) refused dynamodb:${action}: ${errorText(err)}`,
  );
}

/** The item's old value when `err` is a failed condition, else null (a real error). */
function conditionFailed(err) {
  if (!err || err.name !== 'ConditionalCheckFailedException') return null;
  return err.Item || {};
}

async function update(key, expression, condition, names, values, returns = 'ALL_NEW') {
  const input = {
    Key: { chain: S(key) },
    UpdateExpression: expression,
    ExpressionAttributeNames: names,
    ReturnValues: returns,
  };
  if (values) input.ExpressionAttributeValues = values;
  if (condition) {
    input.ConditionExpression = condition;
    input.ReturnValuesOnConditionCheckFailure = 'ALL_OLD';
  }
  const out = await ddb('UpdateItemCommand', input);
  return out.Attributes || {};
}

function s3Error(action, bucket, key, err) {
  const status = err && err.$metadata && err.$metadata.httpStatusCode;
  const resource = `arn:aws:s3:::${bucket}/${key}`;
  let why;
  if (err && err.name === 'NoSuchBucket') {
    why = `the job bucket ${bucket} does not exist (${action} on ${resource}; ${JOB_BUCKET_ENV}: redeploy to create it)`;
  } else if ((err && (err.name === 'AccessDenied' || err.name === 'Forbidden')) || status === 403) {
    why = `${action} on ${resource} was denied: the function's role needs ${action} on it`;
  } else {
    why = `${action} on ${resource} failed: ${errorText(err)}`;
  }
  return new Error(`recursectl: ${why}; no hop runs without its state`);
}

/** Put the state in the job bucket (content-addressed, gzip, SSE); its `ref`. */
async function spill(text) {
  const raw = Buffer.from(text);
  const bucket = process.env[JOB_BUCKET_ENV] || '';
  if (!bucket) {
    throw new Error(
      `recursectl: a state of ${raw.length} bytes is too big to carry and ${JOB_BUCKET_ENV} is not set: ` +
        'declare [job] in recursectl.toml and deploy (it creates the bucket)',
    );
  }
  const sha = require('node:crypto').createHash('sha256').update(raw).digest('hex');
  const key = `${JOB_STATE_PREFIX}${functionName()}/state/${sha}.json.gz`;
  const client = s3();
  try {
    await client.send(
      new s3Sdk.PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: require('node:zlib').gzipSync(raw, { level: 6 }),
        ContentType: 'application/json',
        ServerSideEncryption: 'AES256',
      }),
    );
  } catch (err) {
    throw s3Error('s3:PutObject', bucket, key, err);
  }
  return { bucket, key, sha256: sha, bytes: raw.length };
}

/** The spilled state `ref` names, its SHA-256 checked (StateLost, or an Error to retry). */
async function loadRef(ref) {
  if (!isObject(ref) || !['bucket', 'key', 'sha256'].every((k) => typeof ref[k] === 'string')) {
    throw new StateLost(`the state reference ${JSON.stringify(ref)} is malformed`);
  }
  const { bucket, key, sha256 } = ref;
  if (!key.startsWith(`${JOB_STATE_PREFIX}${functionName()}/`)) {
    throw new StateLost(`the state object s3://${bucket}/${key} is not this function's`);
  }
  let body;
  const client = s3();
  try {
    const out = await client.send(new s3Sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    body = Buffer.from(await out.Body.transformToByteArray());
  } catch (err) {
    if (err && err.name === 'NoSuchKey') {
      throw new StateLost(`the state object s3://${bucket}/${key} is gone (expired or deleted)`);
    }
    throw s3Error('s3:GetObject', bucket, key, err);
  }
  let raw;
  try {
    raw = require('node:zlib').gunzipSync(body);
  } catch {
    raw = body;
  }
  const got = require('node:crypto').createHash('sha256').update(raw).digest('hex');
  if (got !== sha256) {
    throw new StateLost(
      `state object changed: s3://${bucket}/${key} has SHA-256 ${got}, the job wrote ${sha256}; refused`,
    );
  }
  return JSON.parse(raw.toString('utf8'));
}

class Job {
  constructor(chain, context, id, seq, attempt, state, input, bounds, runMs = 0) {
    this.chain = chain;
    this.context = context;
    this.id = id;
    this.seq = seq;
    this.attempt = attempt;
    this.state = state;
    this.input = input;
    this.bounds = bounds;
    this.runMs = runMs; // the job's hops so far, each by its own monotonic clock
    this.started = process.hrtime.bigint();
    this.ended = false;
    this.status = 'running';
    // The last state this hop spilled and its ref: a checkpoint and then continueWith of the
    // same state put the object once (content-addressed). Only this hop's own puts count: a
    // re-put of a state loaded from S3 renews its expiry.
    this.spilled = null;
    let margin = envInt(JOB_MARGIN_ENV, 0);
    if (margin <= 0) margin = Math.min(30000, Math.max(500, Math.floor(this.remainingMs() / 5)));
    this.marginMs = margin;
    chain.countKey = JOB_RECORD_PREFIX + id; // the job's budget lives on its record
    chain.countTtl = false;
    chain.maxInvocations = Math.max(chain.maxInvocations, bounds.max_hops + 1);
    if (bounds.max_cost !== null && bounds.max_cost !== undefined) {
      chain.maxCost = chain.maxCost === null ? bounds.max_cost : Math.min(chain.maxCost, bounds.max_cost);
    }
  }

  mark(ev, fields) {
    this.chain.mark(ev, { job: this.id, seq: this.seq, ...fields });
  }

  /** What is left of this hop's time (context.getRemainingTimeInMillis()). */
  remainingMs() {
    const get = this.context && this.context.getRemainingTimeInMillis;
    return typeof get === 'function' ? Number(get.call(this.context)) : 900000;
  }

  /** True while the hop has more than its margin left and the job may go on. */
  shouldContinue() {
    return !this.ended && this.status === 'running' && !this.chain.stale() && this.remainingMs() > this.marginMs;
  }

  hopMs() {
    return Math.floor(Number(process.hrtime.bigint() - this.started) / 1e6);
  }

  async serialize(state) {
    try {
      return canonical(state);
    } catch (err) {
      await this.fail(`the state cannot be serialized to JSON: ${err.message}`);
      throw new JobStop(
        `job ${this.id} failed at hop ${this.seq}: the state cannot be serialized to JSON (${err.message}); ` +
          'its last good checkpoint is kept',
      );
    }
  }

  /**
   * One fenced update of the job's record (this attempt must still hold the job): on
   * `running`, else once more under `cancelled` or `paused` (see the Python helper's _write).
   */
  async write(sets, addRun, count = false) {
    const names = { '#seq': 'seq', '#att': 'attempt', '#st': 'status' };
    const values = { ':seq': N(this.seq), ':att': N(this.attempt) };
    const parts = Object.entries(sets).map(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:v${i}`] = value;
      return `#f${i} = :v${i}`;
    });
    const expression = `SET ${parts.join(', ')}`;
    const adds = [];
    if (addRun) {
      names['#run'] = 'run_ms';
      values[':run'] = N(this.hopMs());
      adds.push('#run :run');
    }
    const fence = '#seq = :seq AND #att = :att AND #st = :st';
    let status = 'running';
    let old = {};
    for (let i = 0; i < 2; i += 1) {
      values[':st'] = S(status);
      const counting = count && status === 'running'; // a cancelled job's hop has no next
      let text = expression;
      let condition = fence;
      let budget = { names: {}, values: {} };
      if (counting) {
        budget = this.chain.budgetCheck();
        condition += ` AND ${budget.condition}`;
      }
      if (adds.length || counting) text += ` ADD ${adds.concat(counting ? ['#n :one'] : []).join(', ')}`;
      try {
        const got = await update(
          JOB_RECORD_PREFIX + this.id,
          text,
          condition,
          { ...names, ...budget.names },
          { ...values, ...budget.values },
          counting ? 'UPDATED_NEW' : 'NONE',
        );
        this.status = status;
        return counting ? this.chain.share(got) : 0;
      } catch (err) {
        const found = conditionFailed(err);
        if (found === null) throw tableError('UpdateItem', err); // the hop fails: its retry writes again
        old = found;
      }
      const now = old.status && old.status.S;
      const ours = attrInt(old, 'seq') === this.seq && attrInt(old, 'attempt') === this.attempt;
      if (counting && ours && now === 'running') throw this.chain.refused(old); // the budget refused
      if (!(ours && (now === 'cancelled' || now === 'paused') && now !== status)) break;
      status = now;
    }
    this.ended = true;
    throw new JobFenced(
      `job ${this.id}: hop ${this.seq} attempt ${this.attempt} no longer holds the job (now hop ` +
        `${attrInt(old, 'seq')} attempt ${attrInt(old, 'attempt')}, ${old.status && old.status.S}): its writes are refused`,
    );
  }

  /** The record's `checkpoint` (compact JSON) and whether the state is spilled. */
  async checkpointValue(text, ref) {
    if (Buffer.byteLength(text) <= JOB_INLINE_CHECKPOINT) return [`{"seq":${this.seq},"state":${text}}`, false];
    return [JSON.stringify({ seq: this.seq, ref: ref || (await this.spill(text)) }), true];
  }

  async spill(text) {
    if (!this.spilled || this.spilled.text !== text) this.spilled = { text, ref: await spill(text) };
    return this.spilled.ref;
  }

  /** Save `state` as the job's latest checkpoint (what a retry starts from). */
  async checkpoint(state, options = {}) {
    if (this.ended) throw new JobStop(`job ${this.id}: hop ${this.seq} has ended; no more checkpoints`);
    const text = await this.serialize(state);
    const [value, spilled] = await this.checkpointValue(text, null);
    const sets = { checkpoint: S(value), updated_ms: N(nowMs()) };
    let progress = options && options.progress !== undefined ? options.progress : null;
    if (progress !== null) {
      try {
        sets.progress = S(JSON.stringify(progress));
      } catch {
        progress = null;
      }
    }
    await this.write(sets, false);
    this.state = state;
    this.mark(EV_CHECKPOINT, { progress, bytes: Buffer.byteLength(text), spilled });
  }

  async claimDone() {
    try {
      await update(
        `${JOB_RECORD_PREFIX}${this.id}#${this.seq}`,
        'SET #st = :done',
        '#owner = :owner AND #att = :att',
        { '#st': 'status', '#owner': 'owner', '#att': 'attempt' },
        { ':done': S('done'), ':owner': S(this.chain.req), ':att': N(this.attempt) },
        'NONE',
      );
    } catch (err) {
      writeLine(`recursectl: job ${this.id}: hop ${this.seq}'s claim was not marked done: ${err}\n`);
    }
  }

  end(status, error) {
    this.ended = true;
    this.mark(EV_JOB, error ? { status, error: String(error).slice(0, 1000) } : { status });
  }

  /** The job is `failed` (its checkpoint kept); its hop's claim stays for a resume. */
  async fail(error, sets = {}) {
    writeLine(`recursectl: job ${this.id} failed at hop ${this.seq}: ${error}\n`);
    try {
      const failed = { status: S('failed'), error: S(String(error).slice(0, 1000)), updated_ms: N(nowMs()) };
      await this.write({ ...sets, ...failed }, !this.ended);
    } catch (err) {
      if (err instanceof JobFenced) return;
      throw err;
    }
    this.end('failed', error);
  }

  /** Checkpoint `state`, then invoke the next hop (seq + 1) with it. */
  async continueWith(state) {
    if (this.ended) throw new JobStop(`job ${this.id}: hop ${this.seq} has already ended`);
    const text = await this.serialize(state);
    const next = this.seq + 1;
    const runMs = this.runMs + this.hopMs();
    let refused = null;
    if (next >= this.bounds.max_hops) refused = `max_hops reached: the job may run ${this.bounds.max_hops} hops`;
    else if (runMs > this.bounds.max_seconds * 1000) refused = `max_seconds reached: the job's hops ran ${Math.round(runMs / 1000)} s`;
    if (refused) {
      await this.fail(`not continuing: ${refused} (RECURSECTL_JOB_BOUNDS / invoke --max-hops)`);
      return { job: this.id, seq: this.seq, continued: false, status: 'failed' };
    }
    const event = isObject(this.input) ? { ...this.input } : {};
    const jobCtx = { id: this.id, seq: next, attempt: 1, bounds: this.bounds };
    let ref = null;
    if (Buffer.byteLength(JSON.stringify(event)) + Buffer.byteLength(text) + 1024 > JOB_INLINE_PAYLOAD) {
      ref = await this.spill(text);
      jobCtx.ref = ref;
    }
    const [value, spilled] = await this.checkpointValue(text, ref);
    // `next`: the hand-over is in this write; a retry of this hop finds it and sends the next
    // hop again instead of running the handler on the handed state (exactly once).
    const sets = { checkpoint: S(value), next: N(next), updated_ms: N(nowMs()) };
    // One write: the checkpoint, fenced, and the next hop counted on the job's budget (a stale
    // chain is not counted: continueChain refuses it as before).
    let share;
    try {
      share = await this.write(sets, true, this.chain.counted && !this.chain.stale());
    } catch (err) {
      if (!(err instanceof ChainRefused)) throw err; // nothing written: the checkpoint goes with the failure
      this.mark(EV_CHECKPOINT, { progress: null, bytes: Buffer.byteLength(text), spilled });
      await this.fail(`the next hop was refused: ${err.message}`, sets);
      return { job: this.id, seq: this.seq, continued: false, status: 'failed' };
    }
    this.state = state;
    this.mark(EV_CHECKPOINT, { progress: null, bytes: Buffer.byteLength(text), spilled });
    if (this.status === 'cancelled') {
      this.end('cancelled');
      await this.claimDone();
      return { job: this.id, seq: this.seq, continued: false, status: 'cancelled' };
    }
    if (ref === null) jobCtx.state = JSON.parse(text);
    try {
      await continueChain(this.chain, event, jobCtx, share || null);
    } catch (err) {
      if (!(err instanceof ChainRefused)) throw err;
      await this.fail(`the next hop was refused: ${err.message}`);
      return { job: this.id, seq: this.seq, continued: false, status: 'failed' };
    }
    this.ended = true;
    await this.claimDone();
    return { job: this.id, seq: next, continued: true };
  }

  /** The job is `done`; returns `result` (kept in the record when small). */
  async done(result = null) {
    if (this.ended) throw new JobStop(`job ${this.id}: hop ${this.seq} has already ended`);
    const sets = { status: S('done'), updated_ms: N(nowMs()) };
    try {
      const text = JSON.stringify(result === undefined ? null : result);
      if (Buffer.byteLength(text) <= JOB_INLINE_CHECKPOINT) sets.result = S(text);
    } catch {
      // a result with no JSON form is returned, not kept
    }
    await this.write(sets, true);
    this.end('done');
    await this.claimDone();
    return result;
  }
}

let lambdaClient = null;

/** Invoke a job's next hop: a sequence step (depth 0 again), counted on the job. */
async function continueChain(chain, event, jobCtx, counted = null) {
  if (chain.stale()) {
    chain.stopped();
    throw new ChainStopped(
      `recursectl: not continuing the job: this chain started before the last \`recursectl stop\``,
    );
  }
  const share = counted === null ? await chain.count() : counted; // counted: with the checkpoint
  if (share instanceof Error) throw share;
  const ctx = { chain: chain.chain, parent: chain.req, depth: 0, gen: chain.gen, budget: share };
  if (chain.split !== null) ctx.split = chain.split;
  if (chain.maxCost !== null) ctx.max_cost = chain.maxCost;
  ctx[JOB_KEY] = jobCtx;
  const sdk = require(SDK_MODULE);
  if (!lambdaClient) lambdaClient = new sdk.LambdaClient({});
  hookRetries(lambdaClient);
  // The SDK's own send (the guard's patch sits on LambdaClient.prototype): this Invoke is
  // the guard's, already counted and with its context.
  const send = Object.getPrototypeOf(sdk.LambdaClient.prototype).send;
  const command = new sdk.InvokeCommand({
    FunctionName: process.env[SELF_ARN_ENV] || functionName(),
    InvocationType: 'Event',
    Payload: JSON.stringify({ ...event, [CONTEXT_KEY]: ctx }),
  });
  let output;
  try {
    output = await selfInvoke.run(true, () => send.call(lambdaClient, command));
  } catch (err) {
    const error = err instanceof Veto ? err.error : err;
    chain.childFailed(error, share);
    throw error;
  }
  const child = output && output.$metadata && output.$metadata.requestId;
  chain.children.push(child);
  chain.mark(EV_CHILD, { child: child ? String(child) : null, depth: 0, budget: share, job: jobCtx.id, seq: jobCtx.seq, attempt: 1 });
  return child;
}

/** Claim hop `seq` for this delivery (a retry takes an older attempt's claim over). */
async function claim(chain, id, seq, attempt) {
  try {
    await update(
      `${JOB_RECORD_PREFIX}${id}#${seq}`,
      'SET #owner = :owner, #att = :att, #st = :claimed, #e = :ttl',
      'attribute_not_exists(#owner) OR (#att < :att AND #st <> :done)',
      { '#owner': 'owner', '#att': 'attempt', '#st': 'status', '#e': 'expires' },
      {
        ':owner': S(chain.req),
        ':att': N(attempt),
        ':claimed': S('claimed'),
        ':done': S('done'),
        ':ttl': N(Math.floor(Date.now() / 1000) + JOB_STATE_TTL_DAYS * 24 * 3600),
      },
      'NONE',
    );
    return true;
  } catch (err) {
    const old = conditionFailed(err);
    if (old === null) throw tableError('UpdateItem', err);
    const owner = old.owner ? old.owner.S : null;
    chain.mark(EV_DUPLICATE, { job: id, seq, owner });
    writeLine(`recursectl: job ${id} hop ${seq} attempt ${attempt} is a duplicate delivery (claimed by ${owner}): not run\n`);
    return false;
  }
}

/** Set a running job's status from outside a hop (paused; failed by its retries). */
async function setStatus(marks, id, seq, status, error) {
  const names = { '#st': 'status', '#u': 'updated_ms' };
  const values = { ':to': S(status), ':now': N(nowMs()), ':running': S('running') };
  let expression = 'SET #st = :to, #u = :now';
  if (error) {
    names['#err'] = 'error';
    values[':err'] = S(String(error).slice(0, 1000));
    expression += ', #err = :err';
  }
  try {
    await update(JOB_RECORD_PREFIX + id, expression, '#st = :running', names, values, 'NONE');
  } catch (err) {
    if (conditionFailed(err) === null) throw tableError('UpdateItem', err);
    return; // not running (done, cancelled, already paused or failed): left as it is
  }
  marks.mark(EV_JOB, error ? { job: id, seq, status, error: String(error).slice(0, 1000) } : { job: id, seq, status });
}

async function recordState(item, fallback) {
  const checkpoint = attrJson(item, 'checkpoint');
  if (!isObject(checkpoint)) return fallback;
  if ('ref' in checkpoint) return loadRef(checkpoint.ref);
  return checkpoint.state === undefined ? null : checkpoint.state;
}

/** Claim a job's hop and load its state before the handler runs; null: do not run it. */
async function prepareHop(chain, event, context) {
  const ctx = chain.jobCtx || {};
  const { job: id, seq, attempt } = jobIds(ctx);
  if (!counterTable()) throw new Error(`recursectl: a job's hop needs ${COUNTER_TABLE_ENV}: redeploy`);
  if (!(await claim(chain, id, seq, attempt))) return null;
  let item;
  try {
    item = await update(
      JOB_RECORD_PREFIX + id,
      'SET #seq = :seq, #att = :att, #u = :now ADD #hops :one, #chains :chain',
      // (seq, attempt) only grows: a retry of a hop the job has moved past is stale
      '#st = :running AND (attribute_not_exists(#seq) OR #seq < :seq OR (#seq = :seq AND #att < :att))',
      { '#seq': 'seq', '#att': 'attempt', '#st': 'status', '#u': 'updated_ms', '#hops': 'hops', '#chains': 'chains' },
      {
        ':seq': N(seq),
        ':att': N(attempt),
        ':now': N(nowMs()),
        ':one': N(1),
        ':chain': { SS: [chain.chain] },
        ':running': S('running'),
      },
    );
  } catch (err) {
    const old = conditionFailed(err);
    if (old === null) throw tableError('UpdateItem', err);
    const status = (old.status && old.status.S) || 'missing';
    if (status === 'cancelled') chain.mark(EV_JOB, { job: id, seq, status: 'cancelled' });
    if (status === 'running') {
      writeLine(
        `recursectl: job ${id} hop ${seq} attempt ${attempt} is stale (the job is at hop ` +
          `${attrInt(old, 'seq')} attempt ${attrInt(old, 'attempt')}): not run\n`,
      );
    } else {
      writeLine(`recursectl: job ${id} is ${status}: hop ${seq} not run\n`);
    }
    return null;
  }
  const bounds = jobBounds(attrJson(item, 'bounds') || ctx.bounds);
  let input = strip(event);
  if (!isObject(input)) input = {};
  if (attempt > 1 && Object.keys(input).length === 0) input = attrJson(item, 'input') || {};
  if (attempt > 1 && attrInt(item, 'next', -1) === seq + 1) {
    await handOverAgain(chain, id, seq, attempt, item, input, bounds);
    return null;
  }
  let state;
  try {
    if (attempt > 1) state = await recordState(item, ctx.state === undefined ? null : ctx.state);
    else if ('ref' in ctx) state = await loadRef(ctx.ref);
    else state = ctx.state === undefined ? null : ctx.state;
  } catch (err) {
    if (!(err instanceof StateLost)) throw err;
    await new Job(chain, context, id, seq, attempt, null, null, bounds).fail(err.message);
    return null;
  }
  currentJob = new Job(chain, context, id, seq, attempt, state, input, bounds, attrInt(item, 'run_ms'));
  return currentJob;
}

/** A retry of a hop that had handed over (its continuation's checkpoint, with `next`, was
 *  written) and died before its claim was marked done: its work is in the checkpoint, so the
 *  handler does not run again; the next hop is sent again instead, as its Invoke may not have
 *  happened (a copy it already has finds its claim taken and is dropped). */
async function handOverAgain(chain, id, seq, attempt, item, input, bounds) {
  let checkpoint = attrJson(item, 'checkpoint');
  if (!isObject(checkpoint)) checkpoint = {};
  const jobCtx = { id, seq: seq + 1, attempt: 1, bounds };
  if ('ref' in checkpoint) jobCtx.ref = checkpoint.ref;
  else jobCtx.state = checkpoint.state === undefined ? null : checkpoint.state;
  writeLine(
    `recursectl: job ${id} hop ${seq} had handed over to hop ${seq + 1} before it failed: ` +
      `not run again; hop ${seq + 1} is sent again\n`,
  );
  const share = item.n ? chain.share(item) : 1; // counted with the hand-over already
  await continueChain(chain, { ...input }, jobCtx, share);
  await update(
    `${JOB_RECORD_PREFIX}${id}#${seq}`,
    'SET #st = :done',
    '#owner = :owner AND #att = :att',
    { '#st': 'status', '#owner': 'owner', '#att': 'attempt' },
    { ':done': S('done'), ':owner': S(chain.req), ':att': N(attempt) },
    'NONE',
  );
}

/** The first hop of a new job: write the job's record, then claim seq 0 (the Python
 *  helper's order: a failed first hop's retry finds the job by its record). */
async function rootJob(chain, event, context) {
  const ctx = chain.jobCtx || {};
  const bounds = jobBounds(ctx.bounds);
  const id = chain.req;
  const input = isObject(event) ? strip(event) : {};
  const now = N(nowMs());
  const item = {
    chain: S(JOB_RECORD_PREFIX + id),
    status: S('running'),
    function: S(functionName()),
    seq: N(0),
    attempt: N(1),
    hops: N(1),
    run_ms: N(0),
    started_ms: now,
    updated_ms: now,
    bounds: S(JSON.stringify(bounds)),
    gen: N(chain.gen),
    chains: { SS: [chain.chain] },
  };
  try {
    const text = JSON.stringify(input);
    if (Buffer.byteLength(text) <= JOB_INLINE_CHECKPOINT) item.input = S(text); // for a resume
  } catch {
    // an input with no JSON form is not kept
  }
  try {
    await ddb('PutItemCommand', {
      Item: item,
      ConditionExpression: 'attribute_not_exists(#k)',
      ExpressionAttributeNames: { '#k': 'chain' },
    });
  } catch (err) {
    if (conditionFailed(err) === null) throw tableError('PutItem', err);
  }
  if (!(await claim(chain, id, 0, 1))) {
    throw new JobStop(`job ${id}: a duplicate delivery of its first hop: not run`);
  }
  currentJob = new Job(chain, context, id, 0, 1, ctx.state === undefined ? null : ctx.state, input, bounds);
  return currentJob;
}

/** This hop of the job (a root event starts one): see docs/jobs.md. */
async function job(event, context) {
  const req = context && context.awsRequestId;
  if (currentJob && currentJob.chain.req === req) return currentJob;
  if (!counterTable()) {
    throw new Error(
      `recursectl: job() needs the job's table (${COUNTER_TABLE_ENV} is not set): deploy with recursectl, ` +
        'with a [job] table in recursectl.toml',
    );
  }
  if (ownFailureRecord(event)) {
    throw new Error(
      "recursectl: job() was handed an on-failure record: a job function's Handler must be recursectl's " +
        'entry point (recursectl_chain.handler) and the handler an async function',
    );
  }
  let chain = current();
  if (!chain || chain.req !== req) chain = begin(event, context);
  if (chain.jobCtx && chain.jobCtx.id) {
    const prepared = await prepareHop(chain, event, context); // without the entry point
    if (!prepared) throw new JobStop(`job ${chain.jobCtx.id}: this hop is not run (see above)`);
    return prepared;
  }
  return rootJob(chain, event, context);
}

/**
 * A stopped job's next hop: the job is `paused` (state kept) and the hop does not run (true).
 * false: the job was resumed since the stop (its record's `gen` is the function's current
 * one), so the hop, held back by the stop's concurrency 0 until now, goes on.
 */
async function pauseJob(chain) {
  const { job: id, seq } = jobIds(chain.jobCtx);
  const current = currentGeneration();
  try {
    await update(
      JOB_RECORD_PREFIX + id,
      'SET #st = :paused, #u = :now',
      '#st = :running AND (attribute_not_exists(#gen) OR #gen < :current)',
      { '#st': 'status', '#u': 'updated_ms', '#gen': 'gen' },
      { ':paused': S('paused'), ':now': N(nowMs()), ':running': S('running'), ':current': N(current) },
      'NONE',
    );
  } catch (err) {
    const old = conditionFailed(err);
    if (old === null) throw tableError('UpdateItem', err);
    const status = old.status && old.status.S;
    return !(status === 'running' && attrInt(old, 'gen') >= current);
  }
  chain.mark(EV_JOB, { job: id, seq, status: 'paused' });
  writeLine(`recursectl: job ${id} paused before hop ${seq} (\`recursectl resume\` continues it)\n`);
  return true;
}

function failureText(record) {
  const response = record.responsePayload;
  if (isObject(response) && response.errorMessage) {
    return `${response.errorType || 'Error'}: ${response.errorMessage}`.slice(0, 500);
  }
  return String((record.requestContext && record.requestContext.condition) || 'failed');
}

/**
 * (the hop's own event, the first delivery's request id, how many attempts failed): a retry
 * hop's event is the failure record that started it, so each level is one failed attempt.
 */
function unwrap(record) {
  let payload = record.requestPayload;
  let requestId = String(record.requestContext.requestId || '');
  let failed = 1;
  while (ownFailureRecord(payload) && failed <= JOB_MAX_ATTEMPTS) {
    failed += 1;
    requestId = String(payload.requestContext.requestId || requestId);
    payload = payload.requestPayload;
  }
  return { payload, requestId, failed };
}

/** The retry hop a failure record stands for (null: nothing to run). A record that is no
 *  job's goes to the handler unchanged, but in a job function (its on-failure destination is
 *  itself) it is dropped: run, it could fail again, for ever. */
async function retryEvent(record, context) {
  const { payload, requestId, failed } = unwrap(record);
  const ctx = isObject(payload) && isObject(payload[CONTEXT_KEY]) ? payload[CONTEXT_KEY] : {};
  let jobCtx = isObject(ctx[JOB_KEY]) ? ctx[JOB_KEY] : {};
  if (!jobCtx.id && isObject(payload) && counterTable() && requestId) {
    // The first hop (no id yet): a job's when the job's record exists.
    let found;
    try {
      found = await ddb('GetItemCommand', { Key: { chain: S(JOB_RECORD_PREFIX + requestId) }, ConsistentRead: true });
    } catch (err) {
      throw tableError('GetItem', err);
    }
    if (found.Item) jobCtx = { ...jobCtx, id: requestId, seq: 0, attempt: 1 };
  }
  if (!jobCtx.id) {
    if (!jobFunction()) return record; // not a job function: its handler gets the record
    writeLine(
      `recursectl: an on-failure record of request ${requestId || 'unknown'}, no job's: dropped ` +
        "(a job function's failures come back to it; this one is not retried)\n",
    );
    return null;
  }
  const ids = jobIds(jobCtx);
  const { job: id, seq } = ids;
  const attempt = ids.attempt + failed - 1; // the attempt that failed last
  const error = failureText(record);
  const chainId = String(ctx.chain || id);
  const req = String((context && context.awsRequestId) || 'unknown');
  const marks = { mark: (ev, fields) => emit({ v: VERSION, ev, chain: chainId, req, ...fields }) };
  if (attempt + 1 > JOB_MAX_ATTEMPTS) {
    const why = `hop ${seq} failed ${attempt} times (JOB_MAX_ATTEMPTS); the last: ${error}`;
    writeLine(`recursectl: job ${id} failed: ${why}; its checkpoint is kept\n`);
    await setStatus(marks, id, seq, 'failed', why);
    return null;
  }
  marks.mark(EV_JOB, { job: id, seq, status: 'retry', error });
  writeLine(`recursectl: job ${id} hop ${seq} failed (${error}): attempt ${attempt + 1}\n`);
  const retryCtx = { ...ctx, chain: chainId };
  retryCtx[JOB_KEY] = { id, seq, attempt: attempt + 1 };
  if ('bounds' in jobCtx) retryCtx[JOB_KEY].bounds = jobCtx.bounds;
  return { ...strip(payload), [CONTEXT_KEY]: retryCtx };
}

/** After the handler: a job hop that neither continued nor finished fails the job. */
async function afterHandler(chain) {
  const hop = currentJob;
  if (hop && hop.chain === chain && !hop.ended) {
    await hop.fail(`hop ${hop.seq} returned without job.continueWith(state) or job.done(result)`);
  }
}

module.exports = { job, retryEvent, pauseJob, prepareHop, afterHandler };
