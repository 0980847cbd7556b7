/**
 * The package's Node entry (`@g3n/weights/node`): a local directory as a FileSource and as an artifact
 * sink. Kept out of the main entry so that no browser bundle reaches Node's modules.
 */
export { nodeFileSource } from './node-source.ts';
export { nodeArtifactSink } from './artifact/node-sink.ts';
