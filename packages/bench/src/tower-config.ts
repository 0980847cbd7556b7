/**
 * What the tower benchmarks share: the text section of a synthetic config.json (a tower is loaded
 * with its model's config, but these runs never load the text decoder: E2B's sizes with the hidden
 * size given, only to make a valid config), and the fields every tower result reports.
 */

export function towerHostTextConfig(hiddenSize: number): Record<string, unknown> {
  return {
    model_type: 'gemma3n_text',
    hidden_size: hiddenSize,
    vocab_size: 262_400,
    vocab_size_per_layer_input: 262_144,
    hidden_size_per_layer_input: 256,
    intermediate_size: 8192,
    num_hidden_layers: 30,
    num_attention_heads: 8,
    num_key_value_heads: 2,
    head_dim: 256,
  };
}

/** One encode: its soft tokens, time, work, and GPU memory of the tower's weights and of the encode's buffers. */
export interface TowerEncodeResult {
  scale: number;
  tokens: number;
  ms: number;
  gflop: number;
  gflops_per_s: number;
  weight_bytes: number;
  workspace_bytes: number;
}
