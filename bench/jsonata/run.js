// The jsonata-js side of `cargo bench -p mapping --bench map_contacts`.
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
// Crosswalk's native functions do not exist in jsonata-js: the ones the bench mappings use
// ($parseDate without a format, $removeEmpty) are registered below, written to give the same
// results as the Rust ones on the bench data.

'use strict';

const fs = require('fs');
const path = require('path');
const jsonata = require('jsonata');

function parseDate(value) {
  if (value === undefined || value === null || value === '') return undefined;
  let millis;
  if (typeof value === 'number') {
    millis = value;
  } else if (typeof value === 'string') {
    let text = value.trim();
    if (text === '') return undefined;
    if (/^-?\d+(\.\d+)?$/.test(text)) {
      millis = Number(text);
    } else {
      // Salesforce writes `+0000`; JavaScript's Date wants `+00:00`.
      text = text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
      if (/^\d{4}-\d{2}-\d{2}$/.test(text)) text += 'T00:00:00Z';
      else if (!/(Z|[+-]\d{2}:\d{2})$/i.test(text)) text += 'Z';
      millis = Date.parse(text);
    }
  } else {
    return undefined;
  }
  if (!Number.isFinite(millis)) return undefined;
  const iso = new Date(Math.round(millis)).toISOString();
  // Like chrono's AutoSi: no fraction when the milliseconds are zero.
  return iso.replace('.000Z', 'Z');
}

function prune(value) {
  if (value === null || value === undefined || value === '') return undefined;
  if (Array.isArray(value)) {
    const kept = value.map(prune).filter((item) => item !== undefined);
    return kept.length ? kept : undefined;
  }
  if (typeof value === 'object') {
    const kept = {};
    let any = false;
    for (const [key, field] of Object.entries(value)) {
      const pruned = prune(field);
      if (pruned !== undefined) {
        kept[key] = pruned;
        any = true;
      }
    }
    return any ? kept : undefined;
  }
  return value;
}

function readJson(dir, file) {
  return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
}

async function runDirection(dir, direction, passes) {
  const expression = jsonata(fs.readFileSync(path.join(dir, direction.expr), 'utf8'));
  expression.registerFunction('parseDate', parseDate, '<j-:s>');
  expression.registerFunction('removeEmpty', prune, '<j-:j>');
  const records = readJson(dir, direction.input);
  const bindings = direction.bindings ? readJson(dir, direction.bindings) : {};

  const outputs = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    outputs[i] = await expression.evaluate(records[i], bindings);
  }
  let best = Infinity;
  for (let pass = 0; pass < passes; pass++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < records.length; i++) {
      await expression.evaluate(records[i], bindings);
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
