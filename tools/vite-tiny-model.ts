/**
 * Vite plugin: the bundled tiny demo model. Serves the files of a fixture checkpoint folder at
 * `urlPath` in dev (with single byte-range support, as the weight loader uses Range requests) and
 * copies them into the build output under the same path, where `vite preview` serves them.
 * When the folder is missing the build still succeeds, without the model.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Plugin } from 'vite';

const FILES = ['config.json', 'model.safetensors'];
const TYPES: Record<string, string> = { json: 'application/json', safetensors: 'application/octet-stream' };

export function tinyModel(dir: string, urlPath = '/models/tiny/'): Plugin {
  const present = FILES.every((f) => existsSync(join(dir, f)));
  return {
    name: 'g3n-tiny-model',
    configureServer(server) {
      if (!present) return;
      server.middlewares.use((req, res, next) => {
        const name = (req.url ?? '').split('?')[0].slice(urlPath.length);
        if (!req.url?.startsWith(urlPath) || !FILES.includes(name)) return next();
        const file = join(dir, name);
        const size = statSync(file).size;
        const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
        let start = 0;
        let end = size - 1;
        if (range && (range[1] || range[2])) {
          start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
          end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
          if (start > end) {
            res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
            return;
          }
          res.statusCode = 206;
          res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
        }
        res.setHeader('Accept-Ranges', 'bytes');
        res.setHeader('Content-Type', TYPES[name.split('.').pop()!]);
        res.setHeader('Content-Length', String(end - start + 1));
        if (req.method === 'HEAD') res.end();
        else createReadStream(file, { start, end }).pipe(res);
      });
    },
    buildStart() {
      if (!present) this.warn(`tiny demo model not bundled: ${dir} has no ${FILES.join(' + ')}`);
    },
    generateBundle() {
      if (!present) return;
      for (const f of FILES) this.emitFile({ type: 'asset', fileName: `${urlPath.slice(1)}${f}`, source: readFileSync(join(dir, f)) });
    },
  };
}
