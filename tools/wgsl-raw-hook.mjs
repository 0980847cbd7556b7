// Node module hook: lets `import src from './x.wgsl?raw'` work under plain Node (the CLI), as it does in Vite.
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
import { readFile } from 'node:fs/promises';
export async function load(url, context, next) {
  if (url.startsWith('file:') && /\\.wgsl\\?raw$/.test(url)) {
    const source = await readFile(new URL(url.replace(/\\?raw$/, '')), 'utf8');
    return { format: 'module', shortCircuit: true, source: 'export default ' + JSON.stringify(source) + ';' };
  }
  return next(url, context);
}`),
  import.meta.url,
);
