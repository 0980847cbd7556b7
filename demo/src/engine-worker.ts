/** The demo's engine Worker: the embed package's engine Worker (engine + IndexedDB weights cache). */
import '@g3n/embed/worker';
