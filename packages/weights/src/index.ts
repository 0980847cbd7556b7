export * from './errors.ts';
export * from './sources.ts';
export * from './safetensors.ts';
export * from './checkpoint.ts';
export * from './node-source.ts';
