/**
 * Runs in a project that installed the packed @g3n/engine (package.test.ts): plain Node resolves
 * the package through its `exports`, and TypeScript checks this file (checkJs) against the
 * installed declarations. params.mjs, written by the test, holds the model URL and the prompt.
 * Prints the greedy answer's token ids and finish reason as one JSON line.
 */
import { InThreadEngine } from '@g3n/engine';
import { requestNodeGpu } from '@g3n/engine/node';
import { maxContext, maxTokens, model, promptTokenIds } from './params.mjs';

const engine = new InThreadEngine({ requestGpu: () => requestNodeGpu() });
await engine.load({ model, maxContext });
const stream = await engine.chat.completions.create({ messages: [], prompt_token_ids: promptTokenIds, max_tokens: maxTokens, temperature: 0, stream: true });
/** @type {number[]} */
const tokenIds = [];
/** @type {string | null} */
let finishReason = null;
for await (const chunk of stream) {
  tokenIds.push(...chunk.choices[0].token_ids);
  finishReason = chunk.choices[0].finish_reason ?? finishReason;
}
await engine.unload();
console.log(JSON.stringify({ tokenIds, finishReason }));
