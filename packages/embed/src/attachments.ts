/**
 * Images and audio for the next message, shared by the demo and <g3n-chat camera microphone>: a live
 * camera preview with capture / retake and a front / back switch, a microphone recorder (AudioWorklet
 * at the device's own rate; the engine resamples) with a level meter, elapsed time and a new clip
 * every 30 s, files picked, dropped or pasted, and the pending attachments with their thumbnails or
 * playback. Every failure (permission denied, no device, a device unplugged) is a message in place;
 * the chat keeps working with text. The host gives the elements (from its page or its shadow root)
 * and says which inputs it offers at all; the loaded model's towers decide which of those work.
 */
import type { ContentPart } from '@g3n/engine';
import { el } from './dom.ts';

export type Attachment =
  | { kind: 'image'; blob: Blob; url: string }
  | { kind: 'audio'; pcm: Float32Array; sampleRate: number };

export interface AttachmentElements {
  camera: HTMLButtonElement;
  microphone: HTMLButtonElement;
  file: HTMLInputElement;
  list: HTMLUListElement;
  why: HTMLElement;
  message: HTMLElement;
  preview: HTMLElement;
  video: HTMLVideoElement;
  capture: HTMLButtonElement;
  flip: HTMLButtonElement;
  close: HTMLButtonElement;
  meter: HTMLMeterElement;
  elapsed: HTMLElement;
  drop: HTMLElement;
}

/** 30 s at any rate: Gemma 3n's longest clip. */
const CLIP_SECONDS = 30;

const RECORDER = `
class G3nRecorder extends AudioWorkletProcessor {
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) this.port.postMessage(ch.slice(0));
    return true;
  }
}
registerProcessor('g3n-recorder', G3nRecorder);
`;

function mediaError(e: unknown, what: 'camera' | 'microphone'): string {
  const name = (e as DOMException)?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return `The ${what} is blocked for this page. Allow it in the browser's site settings to use it; text chat keeps working.`;
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return `No ${what} was found on this device.`;
  if (name === 'NotReadableError') return `The ${what} is in use by another application or could not be started.`;
  return `The ${what} could not be started: ${(e as Error)?.message ?? String(e)}`;
}

export function describeAudio(a: { pcm: Float32Array; sampleRate: number }): string {
  return `audio clip, ${(a.pcm.length / a.sampleRate).toFixed(1)} s`;
}

/** The inputs a host offers (a page may offer the camera but not the microphone). */
export interface OfferedInputs {
  image: boolean;
  audio: boolean;
}

export class Attachments {
  private pending: Attachment[] = [];
  private stream: MediaStream | null = null;
  private facing: 'user' | 'environment' = 'user';
  private recording: { ctx: AudioContext; stream: MediaStream; chunks: Float32Array[]; samples: number; start: number; timer: number } | null = null;
  private allowed = { image: false, audio: false };
  /** The loaded model's towers (null: no model). */
  private model: { image: boolean; audio: boolean } | null = null;

  constructor(
    private readonly ui: AttachmentElements,
    private offered: OfferedInputs = { image: true, audio: true },
  ) {
    ui.camera.addEventListener('click', () => void (this.stream ? this.closeCamera() : this.openCamera()));
    ui.capture.addEventListener('click', () => void this.capture());
    ui.flip.addEventListener('click', () => {
      this.facing = this.facing === 'user' ? 'environment' : 'user';
      void this.openCamera();
    });
    ui.close.addEventListener('click', () => this.closeCamera());
    ui.microphone.addEventListener('click', () => void (this.recording ? this.stopRecording() : this.startRecording()));
    ui.file.addEventListener('change', () => {
      for (const f of ui.file.files ?? []) void this.addFile(f);
      ui.file.value = '';
    });
    ui.drop.addEventListener('dragover', (e) => {
      if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
    });
    ui.drop.addEventListener('drop', (e) => {
      if (!e.dataTransfer?.files.length) return;
      e.preventDefault();
      for (const f of e.dataTransfer.files) void this.addFile(f);
    });
    ui.drop.addEventListener('paste', (e) => {
      for (const item of e.clipboardData?.items ?? []) {
        const f = item.kind === 'file' ? item.getAsFile() : null;
        if (f) void this.addFile(f);
      }
    });
  }

  /** Which inputs the loaded model takes (none without a model). */
  setInputs(inputs: { image: boolean; audio: boolean } | null): void {
    this.model = inputs;
    this.sync();
  }

  /** Which inputs the host offers (the element's camera and microphone attributes). */
  setOffered(offered: OfferedInputs): void {
    this.offered = offered;
    this.sync();
  }

  private sync(): void {
    const inputs = this.model;
    const offered = this.offered;
    this.allowed = { image: offered.image && !!inputs?.image, audio: offered.audio && !!inputs?.audio };
    const { camera, microphone, file, why } = this.ui;
    camera.disabled = !this.allowed.image;
    microphone.disabled = !this.allowed.audio;
    file.disabled = !this.allowed.image && !this.allowed.audio;
    file.accept = [this.allowed.image ? 'image/*' : '', this.allowed.audio ? 'audio/*' : ''].filter(Boolean).join(',');
    const missing = [offered.image && !inputs?.image && 'images (this model has no vision tower)', offered.audio && !inputs?.audio && 'audio (this model has no audio tower)'].filter(Boolean);
    const kinds = [offered.image && 'images', offered.audio && 'audio'].filter(Boolean).join(' and ');
    const media = [offered.image && 'images', offered.audio && 'audio'].filter(Boolean).join(' or ');
    why.textContent = !inputs ? `Load a model to attach ${media}.` : missing.length ? `This model cannot read ${missing.join(' or ')}.` : `${kinds.charAt(0).toUpperCase()}${kinds.slice(1)} ${offered.image ? 'run' : 'runs'} on this device; the towers download on first use.`;
    if (!this.allowed.image) this.closeCamera();
    if (!this.allowed.audio && this.recording) void this.stopRecording();
  }

  /** The pending attachments as content parts, in order; the list is cleared. */
  take(): { parts: ContentPart[]; taken: Attachment[] } {
    const taken = this.pending;
    this.pending = [];
    this.render();
    const parts: ContentPart[] = taken.map((a) => (a.kind === 'image' ? { type: 'image', image: a.blob } : { type: 'audio', audio: a.pcm, sampleRate: a.sampleRate }));
    return { parts, taken };
  }

  /** Stop the camera and the microphone (what was recorded so far is attached). */
  release(): void {
    this.closeCamera();
    if (this.recording) void this.stopRecording();
  }

  get count(): number {
    return this.pending.length;
  }

  private say(text: string): void {
    this.ui.message.textContent = text;
    this.ui.message.hidden = !text;
  }

  private add(a: Attachment): void {
    this.pending.push(a);
    this.render();
  }

  private async addFile(f: File): Promise<void> {
    if (f.type.startsWith('image/') && this.allowed.image) return this.add({ kind: 'image', blob: f, url: URL.createObjectURL(f) });
    if (f.type.startsWith('audio/') && this.allowed.audio) {
      try {
        const ctx = new OfflineAudioContext(1, 1, 48_000);
        const buf = await ctx.decodeAudioData(await f.arrayBuffer());
        this.add({ kind: 'audio', pcm: mono(buf), sampleRate: buf.sampleRate });
      } catch {
        this.say(`${f.name} could not be decoded as audio.`);
      }
      return;
    }
    this.say(`${f.name}: this model cannot read ${f.type || 'this kind of file'}.`);
  }

  private async openCamera(): Promise<void> {
    this.say('');
    this.closeCamera();
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: this.facing, width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
      this.stream = stream;
      stream.getVideoTracks()[0]?.addEventListener('ended', () => {
        this.say('The camera was disconnected.');
        this.closeCamera();
      });
      this.ui.video.srcObject = stream;
      await this.ui.video.play().catch(() => undefined);
      this.ui.preview.hidden = false;
      // The preview opens below the message box: bring it and its Capture button into view (a phone's chat fills the screen).
      this.ui.preview.scrollIntoView({ block: 'center' });
      this.ui.camera.setAttribute('aria-pressed', 'true');
      const cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
      this.ui.flip.hidden = cams.length < 2;
    } catch (e) {
      this.say(mediaError(e, 'camera'));
    }
  }

  private closeCamera(): void {
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
    this.ui.video.srcObject = null;
    this.ui.preview.hidden = true;
    this.ui.camera.setAttribute('aria-pressed', 'false');
  }

  private async capture(): Promise<void> {
    const v = this.ui.video;
    if (!this.stream || !v.videoWidth) return;
    const canvas = document.createElement('canvas');
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    canvas.getContext('2d')!.drawImage(v, 0, 0);
    const blob = await new Promise<Blob | null>((r) => canvas.toBlob(r, 'image/png'));
    if (!blob) return this.say('The snapshot could not be taken.');
    this.add({ kind: 'image', blob, url: URL.createObjectURL(blob) });
    this.closeCamera();
  }

  private async startRecording(): Promise<void> {
    this.say('');
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    } catch (e) {
      return this.say(mediaError(e, 'microphone'));
    }
    // The device's own rate: browsers do not all honour a 16 kHz context for microphone streams.
    const ctx = new AudioContext();
    const url = URL.createObjectURL(new Blob([RECORDER], { type: 'text/javascript' }));
    try {
      await ctx.audioWorklet.addModule(url);
    } finally {
      URL.revokeObjectURL(url);
    }
    const node = new AudioWorkletNode(ctx, 'g3n-recorder');
    ctx.createMediaStreamSource(stream).connect(node);
    const rec = { ctx, stream, chunks: [] as Float32Array[], samples: 0, start: performance.now(), timer: 0 };
    this.recording = rec;
    node.port.onmessage = (e: MessageEvent<Float32Array>) => {
      const block = e.data;
      rec.chunks.push(block);
      rec.samples += block.length;
      let sum = 0;
      for (const x of block) sum += x * x;
      this.ui.meter.value = Math.min(1, Math.sqrt(sum / block.length) * 4);
      if (rec.samples >= CLIP_SECONDS * ctx.sampleRate) {
        this.finishClip(rec);
        this.say(`${CLIP_SECONDS} s recorded: that clip is attached and a new one has started.`);
      }
    };
    stream.getAudioTracks()[0]?.addEventListener('ended', () => {
      this.say('The microphone was disconnected; what was recorded is attached.');
      void this.stopRecording();
    });
    rec.timer = window.setInterval(() => (this.ui.elapsed.textContent = `${((performance.now() - rec.start) / 1000).toFixed(1)} s`), 100);
    this.ui.microphone.setAttribute('aria-pressed', 'true');
    this.ui.microphone.textContent = 'Stop recording';
    this.ui.meter.hidden = false;
    this.ui.elapsed.hidden = false;
  }

  private finishClip(rec: NonNullable<Attachments['recording']>): void {
    if (rec.samples === 0) return;
    const pcm = new Float32Array(rec.samples);
    let at = 0;
    for (const c of rec.chunks) pcm.set(c, (at += c.length) - c.length);
    rec.chunks = [];
    rec.samples = 0;
    rec.start = performance.now();
    this.add({ kind: 'audio', pcm, sampleRate: rec.ctx.sampleRate });
  }

  private async stopRecording(): Promise<void> {
    const rec = this.recording;
    if (!rec) return;
    this.recording = null;
    this.finishClip(rec);
    clearInterval(rec.timer);
    for (const t of rec.stream.getTracks()) t.stop();
    await rec.ctx.close().catch(() => undefined);
    this.ui.microphone.setAttribute('aria-pressed', 'false');
    this.ui.microphone.textContent = 'Microphone';
    this.ui.meter.hidden = true;
    this.ui.elapsed.hidden = true;
  }

  private render(): void {
    this.ui.list.replaceChildren(
      ...this.pending.map((a, i) => {
        const li = el('li', '', { class: 'attachment', 'data-testid': 'attachment', 'data-kind': a.kind });
        if (a.kind === 'image') li.append(Object.assign(document.createElement('img'), { src: a.url, alt: 'Attached image', className: 'thumb' }));
        else {
          const play = el('button', `▶ ${describeAudio(a)}`, { type: 'button', class: 'link', 'aria-label': `Play the ${describeAudio(a)}` });
          play.addEventListener('click', () => playPcm(a.pcm, a.sampleRate));
          li.append(play);
        }
        const remove = el('button', a.kind === 'image' ? 'Retake' : 'Remove', { type: 'button', class: 'link', 'aria-label': `Remove attachment ${i + 1}` });
        remove.addEventListener('click', () => {
          this.pending.splice(this.pending.indexOf(a), 1);
          this.render();
          if (a.kind === 'image' && remove.textContent === 'Retake' && this.allowed.image) void this.openCamera();
        });
        li.append(remove);
        return li;
      }),
    );
    this.ui.list.hidden = this.pending.length === 0;
  }
}

function mono(buf: AudioBuffer): Float32Array {
  if (buf.numberOfChannels === 1) return buf.getChannelData(0).slice();
  const out = new Float32Array(buf.length);
  for (let c = 0; c < buf.numberOfChannels; c++) {
    const ch = buf.getChannelData(c);
    for (let i = 0; i < out.length; i++) out[i] += ch[i] / buf.numberOfChannels;
  }
  return out;
}

function playPcm(pcm: Float32Array, sampleRate: number): void {
  const ctx = new AudioContext();
  const buf = ctx.createBuffer(1, pcm.length, sampleRate);
  buf.copyToChannel(pcm as Float32Array<ArrayBuffer>, 0);
  const src = ctx.createBufferSource();
  src.buffer = buf;
  src.connect(ctx.destination);
  src.onended = () => void ctx.close();
  src.start();
}
