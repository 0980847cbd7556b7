/**
 * Vite plugin: the bundled tiny demo model. Serves the files of a fixture checkpoint folder at
 * `urlPath` in dev (with single byte-range support, as the weight loader uses Range requests) and
 * copies them into the build output under the same path, where `vite preview` serves them.
 * When the folder is missing the build still succeeds, without the model. `extra` adds files from
 * elsewhere (served name -> path), e.g. a tokenizer.json made for the model. Responses under
 * `urlPath` expose Content-Range and Accept-Ranges to other origins (CORS), so a page on another
 * origin (the <g3n-chat> embed example) can read the model with Range requests, and `vite preview`
 * serves them without compression: a browser's HTTP cache answers later Range requests against a
 * cached gzip body with the compressed length, which breaks byte-range reads.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Plugin } from 'vite';

const FILES = ['config.json', 'model.safetensors'];
const TYPES: Record<string, string> = { json: 'application/json', safetensors: 'application/octet-stream' };

const EXPOSED = 'Content-Range, Accept-Ranges, Content-Length';

export function tinyModel(dir: string, urlPath = '/models/tiny/', extra: Record<string, string> = {}): Plugin {
  const present = FILES.every((f) => existsSync(join(dir, f)));
  const sources: Record<string, string> = Object.fromEntries(FILES.map((f) => [f, join(dir, f)]));
  for (const [name, path] of Object.entries(extra)) if (existsSync(path)) sources[name] = path;
  return {
    name: 'g3n-tiny-model',
    configureServer(server) {
      if (!present) return;
      server.middlewares.use((req, res, next) => {
        const name = (req.url ?? '').split('?')[0].slice(urlPath.length);
        if (!req.url?.startsWith(urlPath) || !Object.hasOwn(sources, name)) return next();
        const file = sources[name];
        res.setHeader('Access-Control-Expose-Headers', EXPOSED);
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
    configurePreviewServer(server) {
      server.middlewares.use((req, res, next) => {
        if (req.url?.startsWith(urlPath)) {
          res.setHeader('Access-Control-Expose-Headers', EXPOSED);
          delete req.headers['accept-encoding'];
        }
        next();
      });
    },
    buildStart() {
      if (!present) this.warn(`tiny demo model not bundled: ${dir} has no ${FILES.join(' + ')}`);
    },
    generateBundle() {
      if (!present) return;
      for (const [f, path] of Object.entries(sources)) this.emitFile({ type: 'asset', fileName: `${urlPath.slice(1)}${f}`, source: readFileSync(path) });
    },
  };
}
