/**
 * google/gemma-3n-E4B's config.json, text part (spec §1.1): the parent of the published MatFormer
 * configurations, built in so that their sizes can be shown and chosen before anything is downloaded
 * (the Hugging Face repository is gated). The vision and audio towers do not enter the size figures.
 */
const LAYERS = 35;

export const E4B_CONFIG = {
  model_type: 'gemma3n',
  text_config: {
    model_type: 'gemma3n_text',
    hidden_size: 2048,
    num_hidden_layers: LAYERS,
    num_attention_heads: 8,
    num_key_value_heads: 2,
    head_dim: 256,
    intermediate_size: Array<number>(LAYERS).fill(16_384),
    vocab_size: 262_400,
    vocab_size_per_layer_input: 262_144,
    hidden_size_per_layer_input: 256,
    sliding_window: 512,
    layer_types: Array.from({ length: LAYERS }, (_, i) => ((i + 1) % 5 === 0 ? 'full_attention' : 'sliding_attention')),
    rope_theta: 1_000_000,
    rope_local_base_freq: 10_000,
    max_position_embeddings: 32_768,
    rms_norm_eps: 1e-6,
    final_logit_softcapping: 30,
    hidden_activation: 'gelu_pytorch_tanh',
    altup_num_inputs: 4,
    altup_active_idx: 0,
    altup_coef_clip: 120,
    altup_correct_scale: true,
    laurel_rank: 64,
    num_kv_shared_layers: 15,
    activation_sparsity_pattern: Array.from({ length: LAYERS }, (_, i) => (i < 10 ? 0.95 : 0)),
    tie_word_embeddings: true,
    pad_token_id: 0,
    eos_token_id: 1,
    bos_token_id: 2,
    torch_dtype: 'bfloat16',
  },
  torch_dtype: 'bfloat16',
};
