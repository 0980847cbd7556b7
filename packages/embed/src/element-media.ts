/**
 * The camera, microphone and attachment controls of <g3n-chat camera microphone>, built for its
 * shadow root with the same data-testids as the demo's (camera, mic, attach, capture, attachment,
 * camera-preview, elapsed, media-message); the Attachments class (attachments.ts) drives them.
 */
import type { AttachmentElements } from './attachments.ts';
import { el } from './dom.ts';

export interface MediaControls {
  elements: Omit<AttachmentElements, 'drop'>;
  /** Camera, microphone, attach, level and elapsed time: below the message box. */
  row: HTMLElement;
  /** The reason an input is off (no such tower; no model yet). */
  why: HTMLElement;
}

export function mediaControls(): MediaControls {
  const camera = el('button', 'Camera', { type: 'button', class: 'secondary', 'data-testid': 'camera', 'aria-pressed': 'false', part: 'camera' });
  const microphone = el('button', 'Microphone', { type: 'button', class: 'secondary', 'data-testid': 'mic', 'aria-pressed': 'false', part: 'microphone' });
  const file = el('input', '', { type: 'file', multiple: '', 'data-testid': 'attach', class: 'visually-hidden' });
  const attach = el('label', 'Attach', { class: 'file-label', part: 'attach' });
  attach.append(file);
  const meter = el('meter', '', { min: '0', max: '1', value: '0', class: 'level', hidden: '', 'aria-label': 'Microphone level' });
  const elapsed = el('span', '', { class: 'small', 'data-testid': 'elapsed', hidden: '', 'aria-live': 'off' });
  const row = el('div', '', { class: 'media-row', part: 'media' });
  row.append(camera, microphone, attach, meter, elapsed);

  const video = el('video', '', { autoplay: '', muted: '', playsinline: '', 'aria-label': 'Camera preview' });
  video.muted = true;
  const capture = el('button', 'Capture', { type: 'button', 'data-testid': 'capture' });
  const flip = el('button', 'Switch camera', { type: 'button', class: 'secondary', hidden: '' });
  const close = el('button', 'Close camera', { type: 'button', class: 'secondary' });
  const buttons = el('div', '', { class: 'media-row' });
  buttons.append(capture, flip, close);
  const preview = el('div', '', { class: 'camera-preview', 'data-testid': 'camera-preview', hidden: '', part: 'camera-preview' });
  preview.append(video, buttons);

  const list = el('ul', '', { class: 'attachments', 'aria-label': 'Attachments for the next message', hidden: '' });
  const message = el('p', '', { class: 'small media-message', role: 'alert', 'data-testid': 'media-message', hidden: '' });
  const why = el('p', 'Load a model to attach images or audio.', { class: 'small why' });
  for (const b of [camera, microphone]) b.setAttribute('aria-describedby', 'g3n-media-why');
  why.id = 'g3n-media-why';
  return { elements: { camera, microphone, file, list, why, message, preview, video, capture, flip, close, meter, elapsed }, row, why };
}

export const MEDIA_STYLE = `
.media-row { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
.media-row[hidden], .camera-preview[hidden], .attachments[hidden], .level[hidden], .media-message[hidden], .why[hidden], [data-testid='elapsed'][hidden] { display: none; }
.file-label {
  display: inline-flex; align-items: center; padding: 0.4rem 0.9rem; border-radius: 0.375rem;
  border: 1px solid var(--g3n-accent); color: var(--g3n-accent); cursor: pointer;
}
.file-label:has(input:disabled) { opacity: 0.5; cursor: not-allowed; }
.file-label:focus-within { outline: 3px solid var(--g3n-accent); outline-offset: 2px; }
button[aria-pressed='true'] { background: var(--g3n-accent); color: var(--g3n-bg); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.level { width: 5rem; }
.small { font-size: 0.85em; margin: 0; color: var(--g3n-muted); }
.media-message { color: var(--g3n-warn); }
.camera-preview { display: flex; flex-direction: column; gap: 0.4rem; }
.camera-preview video { width: 100%; max-height: 40vh; object-fit: contain; background: #000; border-radius: 0.375rem; }
.attachments { display: flex; flex-wrap: wrap; gap: 0.5rem; list-style: none; margin: 0; padding: 0; }
.attachment { display: flex; align-items: center; gap: 0.4rem; border: 1px solid var(--g3n-border); border-radius: 0.375rem; padding: 0.25rem 0.4rem; }
.thumb { height: 3.5rem; width: auto; max-width: 6rem; object-fit: cover; border-radius: 0.3rem; }
.sent-media { display: flex; flex-wrap: wrap; gap: 0.4rem; margin-bottom: 0.3rem; }
button.link { border: none; background: none; color: var(--g3n-accent); padding: 0; font-size: 0.8em; }
`;
