export { parseInline, parseMarkdown, safeHref, type Block, type Inline } from './markdown.ts';
export { renderMarkdown } from './markdown-dom.ts';
export { Attachments, describeAudio, type Attachment, type AttachmentElements, type OfferedInputs } from './attachments.ts';
export { connectEngine, type EngineClient, type Traffic } from './client.ts';
export { defineG3nChat, errorDetail, type DoneDetail, type ErrorDetail, type TokenDetail } from './element.ts';
export { authHeaders, TOKEN_HOST } from './auth.ts';
export { cachedFileSource, clearCache, deleteCachedModel, FILES_REVISION, listCachedModels, type CachedFilesOptions, type CachedModel } from '@g3n/weights';
