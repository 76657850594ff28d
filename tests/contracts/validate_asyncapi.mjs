#!/usr/bin/env node
// Validates AsyncAPI documents with the official parser (@asyncapi/parser, pinned in package.json):
//   node tests/contracts/validate_asyncapi.mjs docs/asyncapi/*.json docs/asyncapi/*.yaml
// Prints every diagnostic as `file:line:column severity code: message (at path)` and exits 1 when
// any has error severity (or a file cannot be read or parsed at all), 2 on bad usage, else 0.
import { resolve } from 'node:path';

import { DiagnosticSeverity, Parser, fromFile } from '@asyncapi/parser';

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

function describe(file, diagnostic) {
  const start = diagnostic.range?.start ?? { line: 0, character: 0 };
  const where = `${file}:${start.line + 1}:${start.character + 1}`;
  const severity = SEVERITY[diagnostic.severity] ?? `severity-${diagnostic.severity}`;
  const path = (diagnostic.path ?? []).join('.');
  return `${where} ${severity} ${diagnostic.code}: ${diagnostic.message}${path ? ` (at ${path})` : ''}`;
}

async function validate(parser, file) {
  let output;
  try {
    output = await fromFile(parser, resolve(file)).parse();
  } catch (error) {
    console.log(`${file}:1:1 error read-failed: ${error?.message ?? error}`);
    return { errors: 1, warnings: 0 };
  }
  let errors = 0;
  let warnings = 0;
  for (const diagnostic of output.diagnostics) {
    console.log(describe(file, diagnostic));
    if (diagnostic.severity === DiagnosticSeverity.Error) errors += 1;
    else if (diagnostic.severity === DiagnosticSeverity.Warning) warnings += 1;
  }
  if (output.document === undefined && errors === 0) {
    console.log(`${file}:1:1 error not-parsed: the parser returned no document`);
    errors += 1;
  }
  if (output.document !== undefined) {
    const version = output.document.version();
    const channels = output.document.channels().length;
    const operations = output.document.operations().length;
    console.log(`${file}: AsyncAPI ${version}, ${channels} channels, ${operations} operations`);
  }
  return { errors, warnings };
}

async function main(files) {
  if (files.length === 0) {
    console.error('usage: node validate_asyncapi.mjs FILE [FILE ...]');
    return 2;
  }
  const parser = new Parser();
  let errors = 0;
  let warnings = 0;
  for (const file of files) {
    const result = await validate(parser, file);
    errors += result.errors;
    warnings += result.warnings;
  }
  console.log(`${files.length} documents: ${errors} errors, ${warnings} warnings`);
  return errors > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
