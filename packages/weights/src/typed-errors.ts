/** Every typed error of @g3n/weights, importable without the loaders (the `@g3n/weights/errors` entry). */
export * from './errors.ts';
export * from './artifact/errors.ts';
