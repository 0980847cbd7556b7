import { defineConfig } from '@playwright/test';

// Debian's chromium (apt-get install chromium) with WebGPU on SwiftShader, its software Vulkan driver,
// so the e2e tests need no GPU. See /work/shared/TOOLCHAIN.md.
const port = Number(process.env.PORT ?? 4173);
const baseURL = `http://localhost:${port}`;

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  // SwiftShader is slow: compiling pipelines and running kernels takes seconds, not milliseconds.
  timeout: 120_000,
  expect: { timeout: 60_000 },
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: 'list',
  use: {
    baseURL,
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--enable-features=Vulkan',
        '--use-vulkan=swiftshader',
        '--use-webgpu-adapter=swiftshader',
        '--enable-unsafe-swiftshader',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  webServer: {
    command: 'pnpm start',
    url: baseURL,
    // G3N_E2E_PAGES: this build also holds the e2e pages (/e2e/engine.html); a plain `pnpm start` does not.
    env: { PORT: String(port), G3N_E2E_PAGES: '1' },
    reuseExistingServer: !process.env.CI,
    timeout: 180_000,
  },
});
