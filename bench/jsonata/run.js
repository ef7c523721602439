// The jsonata-js side of `cargo bench -p mapping --bench map_contacts` and `--bench map_connectors`.
//
// Usage: node run.js DIR
//
// DIR holds manifest.json, written by the Rust bench:
//   {"passes": 3, "directions": [{"name": "...", "expr": "x.jsonata", "input": "x.json", "bindings": "b.json"}]}
// Each direction's input is a JSON array of records; the expression is compiled once and
// evaluated once per record, as the gateway does, for `passes` timed passes after one warm-up.
// Prints one JSON object with records/s per direction on stdout, and writes each direction's
// outputs to DIR/NAME.js-out.json so the Rust side can check both engines agree.
//
// Crosswalk's native functions do not exist in jsonata-js: natives.js registers JavaScript
// stand-ins for them (the same results as the Rust ones on the map_contacts data; see there
// for where they are approximations).

'use strict';

const fs = require('fs');
const path = require('path');
const jsonata = require('jsonata');
const { registerNatives } = require('./natives');

function readJson(dir, file) {
  return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
}

async function runDirection(dir, direction, passes) {
  const expression = jsonata(fs.readFileSync(path.join(dir, direction.expr), 'utf8'));
  registerNatives(expression);
  const records = readJson(dir, direction.input);
  const bindings = direction.bindings ? readJson(dir, direction.bindings) : {};

  // A record that fails is an item error, as in the gateway: it is reported and the others go on.
  const evaluate = async (record) => {
    try {
      return await expression.evaluate(record, bindings);
    } catch (error) {
      return { __error: (error && error.code) || 'error' };
    }
  };
  const outputs = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    outputs[i] = await evaluate(records[i]);
  }
  let best = Infinity;
  for (let pass = 0; pass < passes; pass++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < records.length; i++) {
      await evaluate(records[i]);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    best = Math.min(best, seconds);
  }
  fs.writeFileSync(
    path.join(dir, `${direction.name}.js-out.json`),
    JSON.stringify(outputs.map((output) => (output === undefined ? null : output))),
  );
  return {
    name: direction.name,
    records: records.length,
    seconds: best,
    records_per_sec: records.length / best,
  };
}

async function main() {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node run.js DIR');
    process.exit(2);
  }
  const manifest = readJson(dir, 'manifest.json');
  const results = [];
  for (const direction of manifest.directions) {
    results.push(await runDirection(dir, direction, manifest.passes));
  }
  const version = require('jsonata/package.json').version;
  process.stdout.write(
    JSON.stringify({ jsonata_version: version, node_version: process.version, directions: results }) + '\n',
  );
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
});
