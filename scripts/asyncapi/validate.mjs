// Parses an AsyncAPI document with the official parser, @asyncapi/parser
// (the library behind `asyncapi validate`): the AsyncAPI JSON Schema, the
// spectral rules of the AsyncAPI ruleset (channel parameters, operation
// messages, ...) and every $ref, including files next to the document.
// Prints every diagnostic; exits 1 on an error or a warning.
//
// Usage: node validate.mjs docs/asyncapi.yaml
import { Parser, fromFile } from '@asyncapi/parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs <asyncapi document>');
  process.exit(2);
}

const severities = ['error', 'warning', 'info', 'hint'];
const { document, diagnostics } = await fromFile(new Parser(), file).parse();
let failed = !document;
for (const d of diagnostics) {
  const severity = severities[d.severity] ?? String(d.severity);
  const where = d.path.length ? d.path.join('.') : '(document)';
  console.log(`${severity} ${d.code} at ${where}: ${d.message}`);
  failed ||= d.severity <= 1;
}
if (failed) {
  console.error(`${file}: not valid`);
  process.exit(1);
}
const messages = document.channels().all().reduce((n, c) => n + c.messages().length, 0);
console.log(`${file}: valid AsyncAPI ${document.version()}, ` +
  `${document.channels().length} channels, ${document.operations().length} operations, ${messages} channel messages`);
