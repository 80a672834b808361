// Parse Mermaid diagrams with Mermaid's own parser, the way GitHub's renderer would see them.
//
// Usage: node mermaid_check.mjs <npm prefix holding node_modules/{mermaid,jsdom}>
//   stdin:  a JSON array of diagram texts
//   stdout: {"mermaid": "<version>", "results": [{"ok": true, "diagramType": "..."} |
//                                                {"ok": false, "error": "..."}]}
// Exit status 0 when every diagram was judged (accepted or rejected), 2 when the parser could
// not be loaded. Nothing is fetched: the packages must already be installed under the prefix.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

async function loadMermaid(prefix) {
  // Resolve from the prefix, not from this file: the packages live outside the source tree.
  const require = createRequire(path.join(prefix, 'resolve-from-here.js'));
  const { JSDOM } = require('jsdom');
  // Mermaid sanitises labels with DOMPurify, which binds to a window when first imported,
  // so the DOM globals must exist before mermaid is.
  const dom = new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true });
  globalThis.window = dom.window;
  globalThis.document = dom.window.document;
  const version = JSON.parse(readFileSync(require.resolve('mermaid/package.json'), 'utf8')).version;
  const { default: mermaid } = await import(pathToFileURL(require.resolve('mermaid')).href);
  mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });
  return { mermaid, version };
}

async function main() {
  const prefix = path.resolve(process.argv[2] ?? '.');
  let loaded;
  try {
    loaded = await loadMermaid(prefix);
  } catch (error) {
    process.stderr.write(`cannot load mermaid and jsdom from ${prefix}: ${error.message}\n`);
    process.exit(2);
  }
  const diagrams = JSON.parse(readFileSync(0, 'utf8'));
  const results = [];
  for (const text of diagrams) {
    try {
      const parsed = await loaded.mermaid.parse(text);
      results.push({ ok: true, diagramType: parsed.diagramType });
    } catch (error) {
      results.push({ ok: false, error: String(error?.message ?? error) });
    }
  }
  process.stdout.write(JSON.stringify({ mermaid: loaded.version, results }));
}

await main();
