// reddot.js stays small: minified and gzipped under 8 KB (without the
// optional MQTT adapter). esbuild only measures; the SDK ships unbuilt.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { transform } from 'esbuild';
import { ROOT } from './lib/server.mjs';

async function size(file) {
  const src = await readFile(path.join(ROOT, 'web/sdk', file), 'utf8');
  const { code } = await transform(src, { minify: true, format: 'esm', target: 'es2022' });
  return { raw: src.length, min: code.length, gz: gzipSync(code, { level: 9 }).length };
}

test('reddot.js is under 8 KB minified and gzipped', async () => {
  const s = await size('reddot.js');
  console.log(`reddot.js: ${s.raw} B source, ${s.min} B minified, ${s.gz} B min+gzip`);
  assert.ok(s.gz < 8192, `${s.gz} B`);
  const m = await size('reddot-mqtt.js');
  console.log(`reddot-mqtt.js: ${m.raw} B source, ${m.min} B minified, ${m.gz} B min+gzip (plus the mqtt package)`);
});
