/// <reference types="vite-plugin-pwa/vanillajs" />
/**
 * The service worker (vite-plugin-pwa, workbox precache of the app shell and the engine Worker):
 * registers it, announces a new version with a banner whose button activates it and reloads (the
 * weights in IndexedDB are not touched), and says once when the app is ready to work offline.
 */
import { registerSW } from 'virtual:pwa-register';
import { byId } from './format.ts';

const UPDATE_CHECK_MS = 60 * 60 * 1000;

export function setUpPwa(): void {
  if (!('serviceWorker' in navigator)) return;
  const banner = byId('update');
  const updateSW = registerSW({
    onNeedRefresh() {
      banner.hidden = false;
    },
    onOfflineReady() {
      byId('offline-ready').hidden = false;
      setTimeout(() => (byId('offline-ready').hidden = true), 8000);
    },
    onRegisteredSW(_url, registration) {
      if (!registration) return;
      const check = () => void registration.update().catch(() => undefined);
      setInterval(check, UPDATE_CHECK_MS);
      document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && check());
    },
  });
  byId<HTMLButtonElement>('update-apply').addEventListener('click', async () => {
    // A page the old version never controlled (the first visit) has no waiting worker: the new one is already active.
    const waiting = (await navigator.serviceWorker.getRegistration())?.waiting;
    if (waiting) await updateSW(true);
    else location.reload();
  });
  byId<HTMLButtonElement>('update-dismiss').addEventListener('click', () => (banner.hidden = true));
}
