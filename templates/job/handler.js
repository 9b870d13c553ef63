'use strict';
// A long job: 10,000 items in batches, across as many 3-second hops as it takes.
//
// recursectl's job API carries the work from hop to hop (see "Long jobs" in recursectl's
// README): each hop processes batches while it has time left, checkpoints after each batch,
// then hands what is left to the next hop. A hop that fails or times out is retried from its
// last checkpoint; `recursectl stop` pauses the job at its next hop and `recursectl resume`
// continues it from there.
//
// Event (all optional): {"total": 10000, "batch": 100, "work_ms": 50}
//
//   recursectl deploy && recursectl invoke --follow
//   recursectl job list
//
// `recursectl deploy` packages recursectl_chain.cjs (the job API) next to this file.
const { job: startJob } = require('./recursectl_chain.cjs');

const TOTAL = 10000; // items in the job
const BATCH = 100; // items per batch: one checkpoint (one DynamoDB write) per batch
const WORK_MS = 50; // how long a batch's work takes here; stands for yours

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One item's work: replace it with yours (a row to copy, a file to convert, ...).
function processItem(item) {
  return item * item;
}

exports.handler = async (event, context) => {
  const job = await startJob(event, context);
  const settings = job.input && typeof job.input === 'object' ? job.input : {};
  const total = Number(settings.total ?? TOTAL);
  const batch = Math.max(1, Number(settings.batch ?? BATCH));
  const workMs = Number(settings.work_ms ?? WORK_MS);
  // What the previous hop handed over; the first hop starts from the beginning.
  const state = job.state || { next: 0, sum: 0 };
  while (state.next < total && (await job.shouldContinue())) {
    const end = Math.min(state.next + batch, total);
    for (let item = state.next; item < end; item += 1) state.sum += processItem(item);
    await sleep(workMs);
    state.next = end;
    // Saved before the next batch: a retry of this hop starts from here, not from 0.
    await job.checkpoint(state, { progress: { done: end, total } });
  }
  if (state.next >= total) {
    console.log(`processed ${total} items in ${job.seq + 1} hops`);
    return job.done({ processed: total, sum: state.sum });
  }
  console.log(`hop ${job.seq}: ${state.next} of ${total} done, handing over`);
  return job.continueWith(state);
};
