export { Tokenizer } from './tokenizer.ts';
export type { DecodeOptions, EncodeOptions } from './tokenizer.ts';
export { checkWellFormed, decodeUtf8, invalidUtf8Offset, loneSurrogateIndex } from './text.ts';
export {
  AUDIO_PLACEHOLDER,
  END_OF_AUDIO,
  END_OF_IMAGE,
  IMAGE_PLACEHOLDER,
  START_OF_AUDIO,
  START_OF_IMAGE,
  encodeChat,
  expandMultimodalPlaceholders,
  renderChat,
} from './chat.ts';
export type { AudioPart, ChatMessage, ChatRole, ContentPart, EncodeChatOptions, ImagePart, PlaceholderOptions, RenderChatOptions, TextPart } from './chat.ts';
export { StreamingDetokenizer } from './detokenize.ts';
export { AudioError, ChatFormatError, TokenizerError } from './errors.ts';
export type { AudioErrorReason } from './errors.ts';
export { AUDIO_SAMPLE_RATE, mixToMono, polyphaseFilter, resample, resampledLength } from './audio/resample.ts';
export type { PolyphaseFilter } from './audio/resample.ts';
export { MAX_CLIP_SAMPLES, splitClips } from './audio/clips.ts';
export type { ClipSplit } from './audio/clips.ts';
export { encodeWav, parseWav } from './audio/wav.ts';
export type { Wav, WavEncoding } from './audio/wav.ts';
export { audioFeatureConfig, audioFeatures, readAudioFeatures } from './audio/features.ts';
export type { AudioFeatureConfig, AudioFeatureOptions, AudioFeatures } from './audio/features.ts';
export { DEFAULT_IMAGE_SIZE, imageSizeFromPreprocessorConfig, preprocessImage, readPixelValues } from './image.ts';
export type { ExternalImage, ImageSize, ImageSource, PreprocessImageOptions, RawImage } from './image.ts';
export { ImageError } from './image-errors.ts';
export type { ImageErrorReason } from './image-errors.ts';
