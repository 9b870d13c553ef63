'use strict';
// A recursive Lambda function: it calls itself `numberOfCalls` more times.
//
// Event: {"numberOfCalls": 5}               a chain of 6 invocations
//        {"numberOfCalls": 3, "fanout": 2}  each call invokes 2 children: a tree of 15
//
// It invokes itself asynchronously (InvocationType 'Event') through the AWS SDK v3 that the
// Node.js runtime provides, by context.functionName and context.functionVersion.
// `recursectl deploy` packages this folder with recursectl's guard (recursectl_chain.cjs, the
// function's Handler; RECURSECTL_HANDLER=handler.recursiveExample): it adds the chain context
// to every Invoke of this function and refuses one past the cap or the budget (the send()
// rejects; the guard logs why), so the chain ends cleanly.
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');

const lambda = new LambdaClient({});

module.exports.recursiveExample = async (event, context) => {
  const calls = Number(event.numberOfCalls || 0);
  const fanout = Math.max(1, Number(event.fanout || 1));
  console.log('received', { numberOfCalls: calls });
  if (calls <= 0) {
    console.log('recursive call finished');
    return 'finished';
  }
  console.log('recursive call');
  const payload = JSON.stringify({ ...event, numberOfCalls: calls - 1 });
  await Promise.all(
    Array.from({ length: fanout }, () =>
      lambda.send(new InvokeCommand({
        FunctionName: context.functionName,
        InvocationType: 'Event',
        Payload: payload,
        Qualifier: context.functionVersion,
      })),
    ),
  );
  return 'invoked next call';
};
