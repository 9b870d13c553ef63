'use strict';
// A self-invoking Lambda function in the shape recursectl grew from: each call logs its event
// and, while `numberOfCalls` is above zero, counts it down and sends the event to itself
// asynchronously (an Event invoke), using the AWS SDK for JavaScript v3 that the Node.js
// runtime ships. It finds itself by `context.functionName` and `context.functionVersion`, so no
// ARN is written into the code or its configuration.
//
//   recursectl deploy                      # finds handler.js and its one export
//   recursectl invoke -p event.json --follow
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');

// Created once per execution environment: a client costs tens of milliseconds to build.
const client = new LambdaClient({});

module.exports.recursiveExample = async (event, context) => {
  console.log('received', event);
  if (!(event.numberOfCalls > 0)) {
    console.log('last call of the chain');
    return 'finished';
  }
  const next = { ...event, numberOfCalls: event.numberOfCalls - 1 };
  console.log('calling itself,', next.numberOfCalls, 'calls to go');
  await client.send(new InvokeCommand({
    FunctionName: context.functionName,
    Qualifier: context.functionVersion,
    InvocationType: 'Event',
    Payload: JSON.stringify(next),
  }));
  return 'invoked next call';
};
