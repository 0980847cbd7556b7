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
export { ChatFormatError, TokenizerError } from './errors.ts';
export { DEFAULT_IMAGE_SIZE, imageSizeFromPreprocessorConfig, preprocessImage, readPixelValues } from './image.ts';
export type { ExternalImage, ImageSize, ImageSource, PreprocessImageOptions, RawImage } from './image.ts';
export { ImageError } from './image-errors.ts';
export type { ImageErrorReason } from './image-errors.ts';
