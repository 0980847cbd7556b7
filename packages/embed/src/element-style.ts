/** The Shadow DOM styles of <g3n-chat>: themable through CSS custom properties on the host. */
export const STYLE = `
:host {
  --g3n-fg: #1b1b1f;
  --g3n-bg: #ffffff;
  --g3n-muted: #5d5d66;
  --g3n-border: #d8d8de;
  --g3n-accent: #1a5fd0;
  --g3n-user: #eef3fc;
  --g3n-warn: #a32020;
  display: block;
  font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
  color: var(--g3n-fg);
  max-width: 100%;
}
:host([theme='dark']) {
  --g3n-fg: #e8e8ec;
  --g3n-bg: #1c1c21;
  --g3n-muted: #a4a4ad;
  --g3n-border: #34343c;
  --g3n-accent: #7fb0ff;
  --g3n-user: #25304a;
  --g3n-warn: #ff8a8a;
}
@media (prefers-color-scheme: dark) {
  :host(:not([theme='light'])) {
    --g3n-fg: #e8e8ec;
    --g3n-bg: #1c1c21;
    --g3n-muted: #a4a4ad;
    --g3n-border: #34343c;
    --g3n-accent: #7fb0ff;
    --g3n-user: #25304a;
    --g3n-warn: #ff8a8a;
  }
}
.frame {
  display: flex;
  flex-direction: column;
  gap: 0.5rem;
  background: var(--g3n-bg);
  border: 1px solid var(--g3n-border);
  border-radius: 0.5rem;
  padding: 0.75rem;
  min-height: 12rem;
}
.status { color: var(--g3n-muted); font-size: 0.85em; margin: 0; }
.status[data-state='error'] { color: var(--g3n-warn); font-weight: 600; }
progress { width: 100%; height: 0.4rem; }
progress[hidden] { display: none; }
.log { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 0.5rem; overflow-y: auto; max-height: 28rem; }
.msg { padding: 0.4rem 0.65rem; border-radius: 0.5rem; overflow-wrap: anywhere; }
.msg[data-role='user'] { background: var(--g3n-user); align-self: flex-end; white-space: pre-wrap; max-width: 85%; }
.msg[data-role='assistant'] { border: 1px solid var(--g3n-border); }
.msg p { margin: 0.25em 0; }
.msg pre { overflow-x: auto; padding: 0.5em; border-radius: 0.375rem; border: 1px solid var(--g3n-border); }
.msg code { font-family: ui-monospace, Menlo, monospace; font-size: 0.92em; }
form { display: flex; gap: 0.5rem; align-items: flex-end; }
textarea {
  flex: 1;
  font: inherit;
  color: inherit;
  background: transparent;
  border: 1px solid var(--g3n-border);
  border-radius: 0.375rem;
  padding: 0.4rem 0.5rem;
  resize: vertical;
  min-height: 2.4rem;
}
button {
  font: inherit;
  padding: 0.4rem 0.9rem;
  border-radius: 0.375rem;
  border: 1px solid var(--g3n-accent);
  background: var(--g3n-accent);
  color: var(--g3n-bg);
  cursor: pointer;
}
button.secondary { background: transparent; color: var(--g3n-accent); }
button:disabled { opacity: 0.5; cursor: not-allowed; }
button:focus-visible, textarea:focus-visible { outline: 3px solid var(--g3n-accent); outline-offset: 2px; }
`;
