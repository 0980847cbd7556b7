/// <reference types="vite-plugin-pwa/vanillajs" />
/**
 * The service worker (vite-plugin-pwa, workbox precache of the app shell and the engine Worker):
 * registers it, announces a new version with a banner whose button activates it and reloads (the
 * weights in IndexedDB are not touched), and says once when the app is ready to work offline.
 *
 * A new version is announced whenever the registration has an installed worker waiting next to an
 * active one, however it got there: found by this page's update checks, by the browser's own check
 * on navigation (which may start installing before this page has registered, so that workbox-window
 * never sees its `updatefound`), or installed by another tab; and again for every later version
 * (workbox-window stops listening for `updatefound` after the first one it counts as external).
 */
import { registerSW } from 'virtual:pwa-register';
import { byId } from './format.ts';

const UPDATE_CHECK_MS = 60 * 60 * 1000;

let reloading = false;

function reloadOnce(): void {
  if (reloading) return;
  reloading = true;
  location.reload();
}

/** Show the banner when `registration` has a new version waiting, now or once one finishes installing. */
function watchForWaiting(registration: ServiceWorkerRegistration, announce: () => void): void {
  const check = () => {
    if (registration.waiting?.state === 'installed' && registration.active) announce();
  };
  const follow = (worker: ServiceWorker | null) => worker?.addEventListener('statechange', check);
  follow(registration.installing);
  registration.addEventListener('updatefound', () => follow(registration.installing));
  check();
}

export function setUpPwa(): void {
  if (!('serviceWorker' in navigator)) return;
  const banner = byId('update');
  const announce = () => {
    banner.hidden = false;
  };
  const updateSW = registerSW({
    onNeedRefresh: announce,
    onNeedReload: reloadOnce,
    onOfflineReady() {
      byId('offline-ready').hidden = false;
      setTimeout(() => (byId('offline-ready').hidden = true), 8000);
    },
    onRegisteredSW(_url, registration) {
      if (!registration) return;
      watchForWaiting(registration, announce);
      const check = () => void registration.update().catch(() => undefined);
      setInterval(check, UPDATE_CHECK_MS);
      document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && check());
    },
  });
  byId<HTMLButtonElement>('update-apply').addEventListener('click', async () => {
    const waiting = (await navigator.serviceWorker.getRegistration())?.waiting;
    // Nothing waiting: the new version is already active (this page opened before any version controlled it).
    if (!waiting) return reloadOnce();
    // Reload once the new version is active (a page the old version controls may already reload on `controlling`).
    waiting.addEventListener('statechange', () => waiting.state === 'activated' && reloadOnce());
    await updateSW(true);
  });
  byId<HTMLButtonElement>('update-dismiss').addEventListener('click', () => (banner.hidden = true));
}
