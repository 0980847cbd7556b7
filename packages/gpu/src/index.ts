export * from './errors.ts';
export * from './capabilities.ts';
export * from './device.ts';
export * from './tensor.ts';
export * from './kernel.ts';
export * from './pipeline-cache.ts';
export * from './plan.ts';
export * from './profiler.ts';
