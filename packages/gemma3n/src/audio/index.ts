export * from './config.ts';
export * from './errors.ts';
export * from './weights.ts';
export * from './tower.ts';
